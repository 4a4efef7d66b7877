"""`model_figures`: the numbers behind the three pictures of a model, and the PNGs themselves."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from torch import nn

from layerlab.errors import LayerlabError
from layerlab.inspect import capture
from layerlab.models import MODELS, get_model
from layerlab.viz.model import find_stages, look_inside, model_figures
from test_explain_render import font_problems  # same folder: the missing-glyph check

SMALL_CIFAR = {"widths": (8, 16, 16), "block_hidden": (8, 8, 16), "hidden": (32,)}


def seeded(name: str, **overrides) -> nn.Module:
    torch.manual_seed(0)
    return get_model(name, **overrides)


def test_lenet5_stages_filters_and_probabilities_are_the_models_own():
    model = seeded("lenet5")
    image = torch.randn(1, 32, 32, generator=torch.Generator().manual_seed(1))
    view = look_inside(model, image, classes=[f"digit {i}" for i in range(10)])
    # S2 and S4 of the paper: (32-5+1)/2 = 14, (14-5+1)/2 = 5
    assert {n: tuple(m.shape) for n, m in view.maps.items()} == {"features.2": (6, 14, 14), "features.5": (16, 5, 5)}
    assert view.first_conv == "features.0"
    torch.testing.assert_close(view.filters, model.features[0].weight.detach())
    with torch.no_grad():
        expected = torch.softmax(model(image.unsqueeze(0)), dim=1)[0]
        torch.testing.assert_close(view.maps["features.5"], model.features(image.unsqueeze(0))[0])
    torch.testing.assert_close(view.probs, expected)
    top = view.top()
    probs = [p for _, p in top]
    assert len(top) == 5 and probs == pytest.approx(expected.topk(5).values.tolist())   # the 5 largest, in order
    assert top[0] == (f"digit {int(expected.argmax())}", pytest.approx(float(expected.max())))


def test_resnet_stages_are_the_stem_and_the_four_layers():
    view = look_inside(seeded("resnet18-cifar"), torch.randn(3, 32, 32))
    shapes = {n: tuple(m.shape) for n, m in view.maps.items()}
    assert shapes == {"relu": (64, 32, 32), "layer1": (64, 32, 32), "layer2": (128, 16, 16),
                      "layer3": (256, 8, 8), "layer4": (512, 4, 4)}
    assert (view.maps["relu"] >= 0).all()  # the stem's output is after its ReLU


def test_vgg_and_alexnet_stages_end_at_their_pooling_layers():
    with torch.device("meta"):  # the structure is enough; no 133M weights to fill in
        vgg, alexnet = get_model("vgg11"), get_model("alexnet")
    assert find_stages(vgg) == ["features.2", "features.5", "features.10", "features.15", "features.20"]
    assert all(isinstance(vgg.get_submodule(n), nn.MaxPool2d) for n in find_stages(vgg))
    assert find_stages(alexnet) == ["features.2", "features.5", "features.12"]
    assert find_stages(get_model("cifar-cnn", **SMALL_CIFAR)) == ["features.block1", "features.block2", "features.block3"]


def is_conv_classifier(name: str) -> bool:
    with torch.device("meta"):  # structure only: building VGG-19 this way takes milliseconds
        model = get_model(name)
    return hasattr(model, "forward_features") and any(isinstance(m, nn.Conv2d) for m in model.modules())


CONV_MODELS = [name for name in MODELS.names() if is_conv_classifier(name)]


@pytest.mark.parametrize("name", CONV_MODELS)
def test_every_conv_model_in_the_zoo_has_stages_that_shrink_to_its_features(name):
    meta = MODELS.get(name).meta
    with torch.device("meta"):  # shapes only: no weights are filled in, nothing is computed
        model = get_model(name).eval()
        inputs = torch.empty(1, *meta["input_shape"], dtype=meta["input_dtype"])
        stages = find_stages(model)
        with torch.no_grad(), capture(model, *stages) as maps:
            features = model.forward_features(inputs)
    shapes = [tuple(maps[s].shape[1:]) for s in stages]
    assert len(stages) >= 2 and all(len(shape) == 3 for shape in shapes)
    assert [c for c, _, _ in shapes] == sorted(c for c, _, _ in shapes)                # channels grow
    assert [h for _, h, _ in shapes] == sorted((h for _, h, _ in shapes), reverse=True)  # maps shrink
    assert shapes[-1] == tuple(features.shape[1:])  # the last stage is what the classifier head sees


def test_one_layer_and_the_models_training_mode_is_restored():
    model = seeded("cifar-cnn", batch_norm=True, **SMALL_CIFAR).train()
    running = model.features.block1[1].running_mean.clone()
    view = look_inside(model, torch.randn(3, 32, 32), layer="features.block2")
    assert list(view.maps) == ["features.block2"] and view.maps["features.block2"].shape == (16, 8, 8)
    assert model.training and all(m.training for m in model.modules())
    torch.testing.assert_close(model.features.block1[1].running_mean, running)  # eval mode: BN untouched


def test_channels_last_and_one_channel_inputs_give_the_same_numbers():
    model = seeded("resnet18-cifar", in_channels=1, num_classes=4)
    image = torch.randn(1, 32, 32)
    plain = look_inside(model, image)
    fast = look_inside(model.to(memory_format=torch.channels_last), image)
    torch.testing.assert_close(fast.probs, plain.probs)
    torch.testing.assert_close(fast.maps["layer4"], plain.maps["layer4"])


def test_bad_requests_are_one_line_errors():
    lenet = seeded("lenet5")
    with pytest.raises(LayerlabError, match="no layer named 'features.9'.*features.0"):
        look_inside(lenet, torch.randn(1, 32, 32), layer="features.9")
    with pytest.raises(LayerlabError, match="not feature maps"):
        look_inside(lenet, torch.randn(1, 32, 32), layer="classifier.0")
    with pytest.raises(LayerlabError, match="needs a convolutional model"):
        look_inside(get_model("mlp"), torch.randn(1, 28, 28))
    with pytest.raises(LayerlabError, match="one input image"):
        look_inside(lenet, torch.randn(2, 1, 32, 32))
    with pytest.raises(LayerlabError, match="3 class names for a model with 10 outputs"):
        look_inside(lenet, torch.randn(1, 32, 32), classes=["a", "b", "c"])


def test_capture_keeps_a_conv_output_that_an_inplace_relu_overwrites():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(inplace=True))
    with torch.no_grad(), capture(net, "0") as maps:
        net(torch.randn(1, 1, 8, 8))
    assert (maps["0"] < 0).any()  # the conv's own output, not the rectified one


@pytest.mark.parametrize(("name", "shape", "lang"), [("lenet5", (1, 32, 32), "en"), ("resnet18-cifar", (3, 32, 32), "ko")])
def test_model_figures_writes_three_sensible_pngs(name, shape, lang, tmp_path):
    import matplotlib.pyplot as plt

    display = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    image = (display.float() / 255 - 0.5) / 0.25
    with font_problems() as problems:
        paths = model_figures(seeded(name), image, tmp_path / "figures", display=display, lang=lang)
    assert problems == []
    assert [p.name for p in paths] == ["filters.png", "feature_maps.png", "top_predictions.png"]
    for path in paths:
        with Image.open(path) as png:
            assert png.format == "PNG" and png.width >= 400 and png.height >= 250
        assert 10_000 < path.stat().st_size < 400_000
    assert plt.get_fignums() == []
