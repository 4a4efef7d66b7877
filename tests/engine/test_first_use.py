"""A user's first `fit` on a dataset from an image reader: uint8 pixels are converted for them.

Issue 11: `fit(get_model("resnet18-cifar", num_classes=2), train, val=test)` died inside torch
("expected scalar type Byte but found Float"). Now fit, evaluate and predict apply the dataset's
own conversion (floats, normalised by the statistics the reader stored in `meta`), and a uint8
batch that still reaches a model is a one-line error naming the option.
"""

from __future__ import annotations

import pytest
import torch

from layerlab.data.tensors import TensorData
from layerlab.data.transforms import dataset_transform, float_normalize, random_hflip
from layerlab.engine import evaluate, fit, predict
from layerlab.errors import LayerlabError
from layerlab.models import get_model

MEAN, STD = (0.4, 0.45, 0.5), (0.2, 0.25, 0.3)


def images(n: int, seed: int) -> TensorData:
    """Bright images are class 1, dark ones class 0: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    targets = torch.randint(0, 2, (n,), generator=g)
    base = torch.where(targets.bool(), 170, 70).view(n, 1, 1, 1)
    noise = torch.randint(-40, 41, (n, 3, 8, 8), generator=g)
    inputs = (base + noise).clamp(0, 255).to(torch.uint8)
    return TensorData(inputs, targets, ("dark", "bright"), "toy", {"mean": MEAN, "std": STD})


def small_cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))


def test_dataset_transform_normalises_uint8_with_the_readers_statistics():
    data = images(4, 0)
    x, y = dataset_transform(data)(data.inputs, data.targets, torch.Generator())
    expected = (data.inputs.double() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    assert x.dtype == torch.float32 and torch.allclose(x.double(), expected, atol=1e-6)
    assert torch.equal(y, data.targets)


def test_dataset_transform_uses_the_training_statistics_and_leaves_floats_alone():
    train, test = images(4, 0), images(4, 1)
    test.meta = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}   # a split with other numbers
    x, _ = dataset_transform(test, stats_of=train)(test.inputs, test.targets, torch.Generator())
    assert x[0, 0, 0, 0].item() == pytest.approx((test.inputs[0, 0, 0, 0].item() / 255 - MEAN[0]) / STD[0], abs=1e-6)
    no_stats = TensorData(train.inputs, train.targets)
    x, _ = dataset_transform(no_stats)(no_stats.inputs, no_stats.targets, torch.Generator())
    assert x.max().item() <= 1.0 and x.max().item() == pytest.approx(train.inputs.max().item() / 255)
    assert dataset_transform(TensorData(torch.randn(4, 3), torch.zeros(4))) is None
    assert dataset_transform([(torch.zeros(1), torch.zeros(1))]) is None


def test_fit_on_uint8_images_trains_exactly_as_with_the_explicit_transform():
    train, test = images(64, 0), images(32, 1)
    auto_model, given_model = small_cnn(), small_cnn()
    auto = fit(auto_model, train, val=test, epochs=3, batch_size=16, lr=0.5, progress=False)
    plain = float_normalize(MEAN, STD)
    given = fit(given_model, train, val=test, epochs=3, batch_size=16, lr=0.5, progress=False,
                transform=plain, eval_transform=plain)
    for a, b in zip(auto_model.parameters(), given_model.parameters()):
        assert torch.equal(a, b)
    drop = lambda rows: [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
    assert drop(auto.epochs) == drop(given.epochs)
    assert auto.last["val_accuracy"] >= 0.9            # the toy task is learnt, not just run
    assert evaluate(auto_model, test) == evaluate(given_model, test, transform=plain)
    outputs, targets = predict(auto_model, test)
    assert torch.equal(outputs, predict(given_model, test, transform=plain)[0])
    assert torch.equal(targets, test.targets)


def test_the_issues_first_call_on_a_zoo_resnet_runs():
    train, test = images(8, 0), images(8, 1)
    model = get_model("resnet18-cifar", num_classes=2)
    history = fit(model, train, val=test, epochs=1, batch_size=8, progress=False)
    assert set(history.last) >= {"train_loss", "train_accuracy", "val_loss", "val_accuracy"}


def test_a_transform_that_leaves_uint8_is_a_one_line_error_naming_the_option():
    with pytest.raises(LayerlabError, match=r"uint8 images .*transform=") as caught:
        fit(small_cnn(), images(16, 0), epochs=1, batch_size=8, progress=False, transform=random_hflip())
    assert "\n" not in str(caught.value)
