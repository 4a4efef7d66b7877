"""Shared blocks: the basic block with the pool moved between its convs, and the test-time flip."""

from __future__ import annotations

import torch
from torch import nn

from layerlab.models import get_model
from layerlab.models.layers import FlipAverage, vgg_block


def test_pool_first_keeps_the_weights_and_shapes_and_quarters_the_second_conv():
    course, early = vgg_block(3, 16, 8, batch_norm=True), vgg_block(3, 16, 8, batch_norm=True, pool_first=True)
    assert [n for n, _ in course.named_parameters()] == [n for n, _ in early.named_parameters()]
    early.load_state_dict(course.state_dict())
    x = torch.randn(2, 3, 8, 8)
    assert course(x).shape == early(x).shape == (2, 16, 4, 4)
    assert [type(m).__name__ for m in early] == ["Conv2d", "MaxPool2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU"]
    # conv2 now reads the pooled 4x4 map: the same as pooling conv1's output by hand, then conv2 and its BN and ReLU
    early.eval()
    by_hand = early.relu2(early.bn2(early.conv2(early.relu1(early.bn1(nn.functional.max_pool2d(early.conv1(x), 2))))))
    torch.testing.assert_close(early(x), by_hand)


def test_the_lab_net_with_pool_first_costs_70_million_multiply_adds():
    from layerlab.inspect import summary

    net = get_model("cifar-cnn", widths=(64, 128, 256), block_hidden=(64, 128, 256), hidden=(512, 256),
                    batch_norm=True, pool_first=True)
    # 3→64 at 32x32: 64·27·1024 = 1,769,472; 64→64 at 16x16: 64·576·256 = 9,437,184; 64→128 at 16x16:
    # 18,874,368; 128→128 at 8x8: 9,437,184; 128→256 at 8x8: 18,874,368; 256→256 at 4x4: 9,437,184;
    # FC 4096·512 + 512·256 + 256·10 = 2,230,784
    assert summary(net, (3, 32, 32)).total_macs == 70_060_544


def test_flip_average_is_the_log_of_the_mean_of_both_views_probabilities():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))      # not mirror-symmetric: the views disagree
    x = torch.randn(3, 1, 3, 4)
    one, mirrored = model(x).softmax(1), model(x.flip(-1)).softmax(1)
    out = FlipAverage(model)(x)
    torch.testing.assert_close(out, ((one + mirrored) / 2).log())
    torch.testing.assert_close(out.exp().sum(1), torch.ones(3))  # log-probabilities: softmax(out) is the mean itself
    assert not torch.allclose(out.exp(), one)


def test_flip_average_with_a_shift_weighs_the_two_plain_views_a_quarter_and_four_moved_ones_an_eighth():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(20, 5))
    x = torch.randn(3, 1, 4, 5)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")        # (3, 1, 6, 7)
    down_right, up_left = padded[..., :4, :5], padded[..., 2:, 2:]            # content moved by +1 and by -1
    assert torch.equal(down_right[..., 1:, 1:], x[..., :-1, :-1]) and torch.equal(up_left[..., :-1, :-1], x[..., 1:, 1:])
    p = [model(v).softmax(1) for v in (x, x.flip(-1), down_right, up_left, down_right.flip(-1), up_left.flip(-1))]
    expected = (p[0] + p[1]) / 4 + (p[2] + p[3] + p[4] + p[5]) / 8
    out = FlipAverage(model, shift=1)(x)
    torch.testing.assert_close(out, expected.log())
    torch.testing.assert_close(out.exp().sum(1), torch.ones(3))
