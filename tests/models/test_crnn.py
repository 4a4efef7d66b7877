"""CRNN: columns as time steps, the lengths its poolings leave, and a padded image read only to its own width."""

from __future__ import annotations

import pytest
import torch

from layerlab.errors import LayerlabError
from layerlab.models import get_model


def test_a_200_px_captcha_becomes_50_columns_of_20_scores():
    model = get_model("crnn").eval()
    assert model(torch.randn(2, 1, 50, 200)).shape == (2, 50, 20)            # (B, T, 19 characters + blank)
    assert model.output_lengths(torch.tensor([200, 120, 37])).tolist() == [50, 30, 9]   # floor(floor(w / 2) / 2)
    three = get_model("crnn", width_pools=3)
    assert three.output_lengths(torch.tensor([200, 37])).tolist() == [25, 4]
    assert three(torch.randn(1, 1, 50, 200)).shape == (1, 25, 20)


def test_the_lstm_stops_at_each_images_last_real_column():
    torch.manual_seed(0)
    model = get_model("crnn", height=16, channels=[8, 8], hidden_size=8, num_classes=5).eval()
    image = torch.randn(1, 1, 16, 48)                                        # 40 real pixels + 8 of padding
    padded = torch.cat([image, torch.randn(1, 1, 16, 16)], dim=-1)           # 64 wide; real width 40 = 10 columns
    noisy = torch.cat([image, 100 * torch.randn(1, 1, 16, 16)], dim=-1)      # other garbage further right
    with torch.no_grad():
        a = model(padded, torch.tensor([40]))[0, :10]
        b = model(noisy, torch.tensor([40]))[0, :10]
        unpacked = model(noisy)[0, :10]
    # column j's 3x3 windows reach pixel 4j + 6 at most: the real columns 0..9 see pixels < 48 only,
    # and packed, the backward LSTM starts at column 9: the garbage changes nothing they read...
    assert torch.allclose(a, b, atol=1e-5)
    # ...while without the widths the backward LSTM reads the garbage first
    assert not torch.allclose(unpacked, b, atol=1e-3)


def test_wrong_height_and_impossible_configs_are_one_line_errors():
    with pytest.raises(LayerlabError, match="built for images 50 px high, got 32"):
        get_model("crnn")(torch.randn(1, 1, 32, 128))
    with pytest.raises(LayerlabError, match="1 to 4 conv blocks"):
        get_model("crnn", channels=[8, 8, 8, 8, 8])
    with pytest.raises(LayerlabError, match="pooled to nothing"):
        get_model("crnn", height=4, channels=[8, 8, 8])


def test_the_init_is_glorot_and_orthogonal_with_a_forget_bias_of_one():
    # the initialisation that lets CTC leave the blank-only plateau (see CRNN.init_weights)
    torch.manual_seed(0)
    model = get_model("crnn")
    classifier = model.classifier                                            # (20, 256 + 64)
    bound = (6 / (320 + 20)) ** 0.5                                          # Glorot: sqrt(6 / (fan_in + fan_out))
    assert classifier.weight.abs().max() <= bound and classifier.weight.abs().max() > 0.9 * bound
    assert classifier.bias.abs().sum() == 0
    hidden = model.cfg.hidden_size
    forget = model.rnn.bias_ih_l0[hidden : 2 * hidden] + model.rnn.bias_hh_l0[hidden : 2 * hidden]
    assert torch.equal(forget, torch.ones(hidden))
    assert model.rnn.bias_ih_l0[:hidden].abs().sum() == 0                   # the input gate starts unbiased
    square = model.rnn.weight_hh_l1[:hidden]                                 # one gate's (128, 128) recurrent block
    torch.testing.assert_close(square @ square.T, torch.eye(hidden), atol=1e-5, rtol=0)
