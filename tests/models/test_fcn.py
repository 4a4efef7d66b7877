"""FCN: convolutionalization keeps a trained classifier's logits and gives score maps on larger
images; FCN-32s/-16s/-8s shapes, skips and parameter counts by hand; what the skips buy; one-line errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from layerlab.data import get_dataset
from layerlab.engine.metrics import MeanIoU
from layerlab.errors import LayerlabError
from layerlab.inspect import capture
from layerlab.models import get_model
from layerlab.models.fcn import FCN, bilinear_kernel, convolutionalize


def _conv(c_in: int, c_out: int, k: int = 3) -> int:
    return c_in * k * k * c_out + c_out


@pytest.fixture(scope="module")
def trained_cnn():
    """A small course-style CIFAR net (3 basic blocks + 3 FC) after 10 Adam steps on random 32x32 images."""
    torch.manual_seed(0)
    model = get_model("cifar-cnn", widths=(8, 16, 16), block_hidden=(), hidden=(32, 16), dropout=0.5)
    inputs, targets = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(10):
        optimizer.zero_grad()
        F.cross_entropy(model(inputs), targets).backward()
        optimizer.step()
    return model.eval()


def test_convolutionalized_classifier_gives_the_same_logits_at_the_training_size(trained_cnn):
    fcn = convolutionalize(trained_cnn, image_size=32).eval()
    convs = dict(fcn.classifier.named_children())
    # fc1 reads 16 maps of 4x4 (= 256 numbers): a 4x4 conv; fc2 and fc3 read vectors: 1x1 convs
    assert tuple(convs["fc1"].weight.shape) == (32, 16, 4, 4) and tuple(convs["fc2"].weight.shape) == (16, 32, 1, 1)
    assert sum(p.numel() for p in fcn.parameters()) == sum(p.numel() for p in trained_cnn.parameters())
    images = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits, scores = trained_cnn(images), fcn(images)
    assert scores.shape == (5, 10, 1, 1)
    torch.testing.assert_close(scores.flatten(1), logits, rtol=1e-5, atol=1e-5)


def test_on_a_larger_image_the_fc_layers_slide_over_the_feature_maps(trained_cnn):
    fcn = convolutionalize(trained_cnn, image_size=32).eval()
    image = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        scores = fcn(image)
        # features 8x12 (three halvings); the 4x4 fc1 conv fits (8 - 4) + 1 = 5 by (12 - 4) + 1 = 9 times
        assert scores.shape == (1, 10, 5, 9)
        # score (i, j) is the classifier's FC head on the 4x4 window of feature maps at (i, j): the 32x32
        # pixel window at (8i, 8j), except that the padded convs near its edges saw real neighbours, not zeros
        features = trained_cnn.features(image)                                      # (1, 16, 8, 12)
        for i, j in [(0, 0), (2, 5), (4, 8)]:
            head = trained_cnn.forward_head(features[..., i : i + 4, j : j + 4])
            torch.testing.assert_close(scores[0, :, i, j], head[0], rtol=1e-5, atol=1e-5)
        window = trained_cnn(image[..., 16:48, 40:72])[0]                           # pixel window of (2, 5)
        assert 1e-4 < float((window - scores[0, :, 2, 5]).abs().max()) < 0.1 * float(window.abs().max())


def test_convolutionalizing_at_a_size_the_classifier_was_not_trained_on_is_a_one_line_error(trained_cnn):
    with pytest.raises(LayerlabError, match=r"reads 256 numbers but the features give 16x8x8 = 1024 at 64x64") as err:
        convolutionalize(trained_cnn, image_size=64)
    assert "\n" not in str(err.value)


def test_a_vgg_convolutionalizes_too():
    with torch.device("meta"):                       # shapes only: no memory, no initialisation time
        vgg = get_model("vgg11", num_classes=3).eval()
        fcn = convolutionalize(vgg, image_size=224)
    assert tuple(fcn.classifier[0].weight.shape) == (4096, 512, 7, 7)       # VGG's fc6 as the paper's 7x7 conv
    with pytest.raises(LayerlabError, match="reads 25088 numbers but the features give 512x1x1 = 512 at 32x32"):
        with torch.device("meta"):
            convolutionalize(vgg, image_size=32)


@pytest.mark.parametrize("name,stride", [("fcn-32s", 32), ("fcn-16s", 16), ("fcn-8s", 8)])
def test_every_variant_returns_a_score_per_class_and_pixel(name, stride):
    model = get_model(name, widths=(4, 4, 8, 8, 8), fc_width=8).eval()
    assert model.cfg.stride == stride
    assert model(torch.randn(2, 3, 64, 96)).shape == (2, 4, 64, 96)


def test_the_scores_are_fused_at_the_variants_stride():
    torch.manual_seed(0)
    model = get_model("fcn-8s", widths=(4, 4, 8, 8, 8), fc_width=8).eval()
    with torch.no_grad(), capture(model, "score_fr", "score_pool4", "score_pool3", "upscore") as maps:
        model(torch.randn(1, 3, 64, 64))
    # score_fr at stride 32 (2x2), pool4's scores at 16 (4x4), pool3's at 8 (8x8), upscore's input 8x8 -> 64x64
    assert [tuple(maps[n].shape) for n in ("score_fr", "score_pool4", "score_pool3", "upscore")] == \
        [(1, 4, 2, 2), (1, 4, 4, 4), (1, 4, 8, 8), (1, 4, 64, 64)]


def test_the_pool_scores_start_at_zero_so_each_variant_starts_as_the_coarser_net():
    torch.manual_seed(0)
    model = get_model("fcn-16s", widths=(4, 4, 8, 8, 8), fc_width=8).eval()
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        coarse = model.score_fr(model.fc7(model.fc6(model.features(image))))      # (1, 4, 2, 2) at stride 32
        expected = model.upscore(model.upscore2(coarse))                           # 2x then 16x, both bilinear
        torch.testing.assert_close(model(image), expected)


def test_the_last_upsampling_is_fixed_bilinear_and_the_2x_ones_learn():
    model = get_model("fcn-8s")
    assert not model.upscore.weight.requires_grad
    assert model.upscore2.weight.requires_grad and model.upscore_pool4.weight.requires_grad
    torch.testing.assert_close(model.upscore.weight[1, 1], bilinear_kernel(16))
    assert float(model.upscore.weight[1, 2].abs().sum()) == 0.0                # class 1 never feeds class 2


def test_parameter_counts_by_hand():
    widths, fc, k = (8, 16, 32, 64, 128), 128, 4
    blocks = sum(_conv(a, b) + 2 * b + _conv(b, b) + 2 * b for a, b in zip((3,) + widths, widths))
    assert blocks == 296_040
    backbone = blocks + _conv(128, fc) + 2 * fc + _conv(fc, fc, 1) + 2 * fc + _conv(fc, k, 1)
    assert backbone == 461_164
    up = lambda factor: k * k * (2 * factor) ** 2                                # noqa: E731  no bias
    expected = {"fcn-32s": backbone + up(32),
                "fcn-16s": backbone + _conv(64, k, 1) + up(2) + up(16),
                "fcn-8s": backbone + _conv(64, k, 1) + up(2) + _conv(32, k, 1) + up(2) + up(8)}
    assert expected == {"fcn-32s": 526_700, "fcn-16s": 478_064, "fcn-8s": 466_164}
    for name, count in expected.items():
        assert sum(p.numel() for p in get_model(name).parameters()) == count


def test_mistakes_are_one_line_errors():
    with pytest.raises(LayerlabError, match="multiples of 32.*e.g. to 64x96"):
        get_model("fcn-8s", widths=(4, 4, 8, 8, 8), fc_width=8)(torch.randn(1, 3, 50, 70))
    with pytest.raises(LayerlabError, match="stride must be 32, 16 or 8"):
        FCN.__new__(FCN).__init__(type(get_model("fcn-8s").cfg)(stride=4))
    with pytest.raises(LayerlabError, match="five blocks"):
        get_model("fcn-8s", widths=(8, 16))
    with pytest.raises(LayerlabError, match=r"expects images \(B, 1, H, W\)"):
        get_model("fcn-8s", in_channels=1)(torch.randn(1, 3, 32, 32))


def test_the_skips_let_fcn_8s_fit_small_shapes_that_fcn_32s_cannot():
    # 8 generated 32x32 images, the same 60 Adam steps from the same seed: FCN-32s sees a 1x1 grid of
    # scores (one per image, blurred out bilinearly), FCN-8s a 4x4 grid plus the finer pools
    shapes = get_dataset("shapes", size=32, count=8)
    inputs, targets = (shapes.inputs.float() / 255 - 0.5) / 0.25, shapes.targets
    fitted = {}
    for name in ("fcn-32s", "fcn-8s"):
        torch.manual_seed(0)
        model = get_model(name)
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        for _ in range(60):
            optimizer.zero_grad()
            F.cross_entropy(model(inputs), targets).backward()
            optimizer.step()
        with torch.no_grad():
            metric = MeanIoU(num_classes=4)
            metric.update(model.eval()(inputs), targets)
        fitted[name] = metric.compute()
    # measured: 0.21 and 0.63 (torch 2.x CPU)
    assert fitted["fcn-32s"] < 0.3 and fitted["fcn-8s"] > 0.5
