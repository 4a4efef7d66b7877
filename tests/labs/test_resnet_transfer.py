"""resnet-cifar (skip vs no skip) and transfer-vgg16 (freeze / replace head / unfreeze), on files the tests write."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from layerlab.cli import main
from layerlab.data import get_dataset
from layerlab.data.transforms import float_normalize
from layerlab.engine import evaluate
from layerlab.engine.deploy import evaluate_run, load_trained
from layerlab.errors import LayerlabError
from layerlab.labs import run_lab
from layerlab.models import get_model
from layerlab.models.layers import FlipAverage
from layerlab.models.resnet import BasicBlock
from layerlab.models.transfer import freeze_features, head_name, last_block, replace_head, unfreeze
from layerlab.models.vgg import make_features

FAST = {"quick": True, "progress": False, "amp": False, "channels_last": False}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def fake_cifar(tmp_path) -> Path:
    """cifar-10-batches-py with 5 x 40 training and 40 test images; labels cycle 0..9 (20 cats, 20 dogs)."""
    folder = tmp_path / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        labels = [j % 10 for j in range(40)]
        # the class is visible: a brighter red plane for higher labels, plus noise
        data = rng.integers(0, 60, (40, 3072)).astype(np.uint8) + np.repeat(np.array(labels, dtype=np.uint8) * 19, 3072).reshape(40, 3072)
        batch = {b"labels": labels, b"data": data}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder.parent


# --- ResNet: skip connections on and off ---------------------------------------------------------


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_default_counts_unchanged_and_no_skip_drops_exactly_the_downsample_shortcuts():
    assert _count(get_model("resnet18-cifar")) == 11_173_962
    assert _count(get_model("resnet18")) == 11_689_512
    plain = get_model("resnet18-cifar", skip=False)
    # three 1x1 convs 64→128, 128→256, 256→512 and their BNs (scale + shift per channel)
    shortcuts = 64 * 128 + 128 * 256 + 256 * 512 + 2 * (128 + 256 + 512)
    assert _count(plain) == 11_173_962 - shortcuts == 11_000_138
    assert not [name for name, _ in plain.named_modules() if "downsample" in name]
    assert [name for name, _ in get_model("resnet18-cifar").named_modules() if name.endswith("downsample")] == [
        "layer2.0.downsample", "layer3.0.downsample", "layer4.0.downsample"]


def test_no_skip_block_outputs_relu_of_f_and_differs_from_the_residual_net():
    torch.manual_seed(0)
    skip, plain = get_model("resnet18-cifar", width=8), get_model("resnet18-cifar", width=8, skip=False)
    plain.load_state_dict({k: v for k, v in skip.state_dict().items() if "downsample" not in k})
    skip.eval(), plain.eval()
    x, maps = torch.randn(2, 3, 32, 32), torch.randn(2, 8, 32, 32)  # layer1 takes 8 channels at width 8
    block = plain.layer1[0]
    f = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(maps)))))  # F(x): the same weights in both nets
    assert torch.allclose(block(maps), torch.relu(f))
    assert torch.allclose(skip.layer1[0](maps), torch.relu(f + maps))
    assert not torch.allclose(skip(x), plain(x), atol=1e-3)
    assert isinstance(block, BasicBlock) and block.downsample is None


def test_resnet_lab_compare_trains_both_and_writes_one_figure(fake_cifar, tmp_path):
    out = run_lab("resnet-cifar", {**FAST, "data_dir": str(fake_cifar), "compare": True}, out=tmp_path / "runs")
    run = Path(out["run_dir"])
    # the reported accuracies are those of the saved weights of each net, computed again from the files
    assert evaluate_run(run)["test_accuracy"] == pytest.approx(out["test_accuracy"])
    _, card = load_trained(run)
    plain_net = get_model(card.model, **{**card.overrides, "skip": False})
    plain_net.load_state_dict(load_file(run / "model-plain.safetensors"))
    test = get_dataset(card.dataset, split=card.test_split, root=card.data_dir)
    again = evaluate(plain_net, test, transform=float_normalize(card.mean, card.std))
    assert again["accuracy"] == pytest.approx(out["plain_test_accuracy"])
    for name in ("skip_vs_plain", "curves", "filters", "feature_maps", "top_predictions"):
        assert (run / "figures" / f"{name}.png").stat().st_size > 5_000, name
    report = (run / "report.md").read_text()
    assert "`layer2.0.downsample.0` (8→16, 1x1, stride 2)" in report and "without (figures/skip_vs_plain.png)" in report
    # the plain net's weights are saved beside the residual net's and hold no shortcut
    assert not [k for k in load_file(run / "model-plain.safetensors") if "downsample" in k]
    assert any("downsample" in k for k in load_file(run / "model.safetensors"))
    model, card = load_trained(run)  # the model card rebuilds the same net: eval and predict work
    assert card.overrides["width"] == 8 and model(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


def test_resnet_lab_no_skip_alone_is_the_main_model_and_its_notes_say_so(fake_cifar, tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda *args, **kwargs: pytest.fail("compiled without --compile"))
    out = run_lab("resnet-cifar", {**FAST, "data_dir": str(fake_cifar), "skip": False}, out=tmp_path / "runs")
    assert "test_accuracy_one_view" not in out          # one view only, unless --tta
    model, card = load_trained(out["run_dir"])
    assert card.overrides["skip"] is False and not [n for n, _ in model.named_modules() if "downsample" in n]
    assert "No skip connections (--no-skip)" in (Path(out["run_dir"]) / "report.md").read_text()
    assert "plain_test_accuracy" not in out


def test_resnet_lab_tta_compile_and_train_seconds_are_what_they_say(fake_cifar, tmp_path, monkeypatch):
    compiled = []

    def spy(model, *args, **kwargs):  # torch.compile stand-in: records what it was given, runs it as it is
        compiled.append(model)
        return model

    monkeypatch.setattr(torch, "compile", spy)
    out = run_lab("resnet-cifar", {**FAST, "data_dir": str(fake_cifar), "tta": True, "compile": True},
                  out=tmp_path / "runs")
    run = Path(out["run_dir"])
    model, card = load_trained(run)
    assert len(compiled) == 1 and isinstance(compiled[0], type(model))   # --compile: the training forward, once
    test = get_dataset(card.dataset, split=card.test_split, root=card.data_dir)
    to_eval = float_normalize(card.mean, card.std)
    # --tta: the reported figures are the saved net's on each image and its mirror, probabilities averaged
    both = evaluate(FlipAverage(model), test, loss="cross_entropy", transform=to_eval)
    one = evaluate(model, test, loss="cross_entropy", transform=to_eval)
    assert both["loss"] == pytest.approx(out["test_loss"], rel=1e-5) and both["accuracy"] == pytest.approx(out["test_accuracy"])
    assert abs(one["loss"] - both["loss"]) > 1e-3      # one view alone scores otherwise: the flip was used
    assert one["accuracy"] == pytest.approx(out["test_accuracy_one_view"])
    seconds = [json.loads(line)["seconds"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert out["train_seconds"] == pytest.approx(sum(seconds), abs=2e-3) and out["train_seconds"] > 0


# --- transfer: the reusable moves ----------------------------------------------------------------


def _tiny_vgg(num_classes: int = 8) -> nn.Module:
    return get_model("cifar-cnn", widths=(4, 8, 8), block_hidden=(), hidden=(16,), batch_norm=True, dropout=0.5,
                     num_classes=num_classes)


class _FlatVGG(nn.Module):
    """torchvision's VGG layout in miniature: a flat `features` Sequential and a `classifier`."""

    def __init__(self) -> None:
        super().__init__()
        self.features = make_features([4, "M", 8, "M", 8, 8, "M"], 3, batch_norm=False)
        self.classifier = nn.Sequential(nn.Linear(32, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 10))


def test_replace_head_keeps_keys_sets_dropout_or_adds_it():
    model = _tiny_vgg()
    keys = set(model.state_dict())
    head = replace_head(model, 3, dropout=0.25)
    assert head_name(model) == "classifier.fc2" and model.classifier.fc2 is head and head.out_features == 3
    assert set(model.state_dict()) == keys and model.classifier.dropout1.p == 0.25
    resnet = get_model("resnet18-cifar", width=4)
    replace_head(resnet, 2, dropout=0.3)
    assert isinstance(resnet.fc[0], nn.Dropout) and resnet.fc[0].p == 0.3 and resnet(torch.randn(1, 3, 32, 32)).shape == (1, 2)
    with pytest.raises(LayerlabError, match="dropout must be in"):
        replace_head(model, 2, dropout=1.0)


def test_freeze_features_and_last_block_for_three_layouts():
    model = _tiny_vgg()
    frozen = freeze_features(model)
    assert frozen == sum(p.numel() for p in model.features.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())
    assert model.features.block1.bn1.momentum == 0.0
    assert last_block(model) is model.features.block3
    assert unfreeze(last_block(model)) == sum(p.numel() for p in model.features.block3.parameters())
    assert model.features.block3.bn2.momentum == 0.1 and not model.features.block2.conv1.weight.requires_grad
    flat = _FlatVGG()
    block = last_block(flat)  # after the second-to-last pool: conv 8→8, ReLU, conv 8→8, ReLU, pool
    assert [type(m).__name__ for m in block] == ["Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d"]
    assert block[0] is flat.features[6]
    resnet = get_model("resnet18-cifar", width=4)
    assert last_block(resnet) is resnet.layer4
    assert freeze_features(resnet) == _count(resnet) - _count(resnet.fc)


# --- transfer: the lab, with weights the test writes ---------------------------------------------


def _lab(fake_cifar, tmp_path, weights: Path, **extra):
    options = {**FAST, "data_dir": str(fake_cifar), "weights": str(weights), "model": "cifar-vgg",
               "widths": (4, 8, 8), "hidden": 16, "baseline": False, "lr": 0.05, **extra}
    out = run_lab("transfer-vgg16", options, out=tmp_path / "runs")
    return out, load_file(Path(out["run_dir"]) / "model.safetensors")


def test_transfer_lab_trains_the_classifier_and_leaves_frozen_weights_alone(fake_cifar, tmp_path):
    torch.manual_seed(1)
    pretrained = {k: v.clone() for k, v in _tiny_vgg(8).state_dict().items()}
    save_file(pretrained, tmp_path / "tiny.safetensors")
    out, after = _lab(fake_cifar, tmp_path, tmp_path / "tiny.safetensors")
    model, card = load_trained(out["run_dir"])
    assert card.classes == ("cat", "dog") and model(torch.zeros(1, 3, 32, 32)).shape == (1, 2)
    # `layerlab eval` scores the 2-class model on the cat and dog test images only, as the lab did
    assert evaluate_run(out["run_dir"])["test_accuracy"] == pytest.approx(out["test_accuracy"], abs=1e-6)
    assert after["classifier.fc2.weight"].shape == (2, 16)  # the new head: cat, dog
    for key, value in pretrained.items():
        if key.startswith("features.") and not key.endswith("num_batches_tracked"):
            assert torch.equal(after[key], value), key  # weights and BN statistics both frozen
    assert not torch.allclose(after["classifier.fc1.weight"], pretrained["classifier.fc1.weight"])
    _, unfrozen = _lab(fake_cifar, tmp_path, tmp_path / "tiny.safetensors", unfreeze_last=True)
    assert not torch.allclose(unfrozen["features.block3.conv2.weight"], pretrained["features.block3.conv2.weight"])
    assert torch.equal(unfrozen["features.block2.conv2.weight"], pretrained["features.block2.conv2.weight"])


def _own_folder(root: Path, sizes=((20, 24), (36, 30))) -> Path:
    """train/ and test/ of two classes, "red" and "blue", in two sizes: the user's own photos."""
    rng = np.random.default_rng(3)
    for split, n in (("train", 12), ("test", 6)):
        for label, name in enumerate(("blue", "red")):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                image = rng.integers(0, 80, (*sizes[i % 2], 3)).astype(np.uint8)
                image[..., 2 if label == 0 else 0] += 150
                Image.fromarray(image).save(root / split / name / f"{i}.png")
    return root


def test_transfer_lab_honours_an_image_folder_pretraining_on_all_of_cifar(fake_cifar, tmp_path):
    folder = _own_folder(tmp_path / "my-photos")
    out = run_lab("transfer-vgg16", {**FAST, "dataset": "image-folder", "data_dir": str(folder),
                                     "source_dir": str(fake_cifar), "widths": (4, 8, 8), "hidden": 16, "lr": 0.05},
                  out=tmp_path / "runs")
    model, card = load_trained(out["run_dir"])
    assert card.classes == ("blue", "red") and card.dataset == "image-folder" and card.input_shape == (3, 32, 32)
    report = (Path(out["run_dir"]) / "report.md").read_text()
    assert report.startswith("# Transfer learning: a pretrained VGG on my-photos")
    assert "CIFAR" not in report.split("\n")[0]
    assert "accuracy on all 12 test images of blue, red" in report
    # the source task was all ten CIFAR-10 classes: the pretraining head had 10 outputs
    pretrain = load_file(Path(out["run_dir"]) / "model-pretrain.safetensors")
    assert pretrain["classifier.fc2.weight"].shape[0] == 10
    assert evaluate_run(out["run_dir"])["test_accuracy"] == pytest.approx(out["test_accuracy"], abs=1e-6)
    with pytest.raises(LayerlabError, match="pretraining is at 32x32"):
        run_lab("transfer-vgg16", {**FAST, "dataset": "image-folder", "data_dir": str(folder), "size": 48,
                                   "source_dir": str(fake_cifar)}, out=tmp_path / "runs")


def test_missing_or_incompatible_weights_give_one_line_errors(fake_cifar, tmp_path, capsys):
    save_file(get_model("cifar-cnn", widths=(4, 8, 16), block_hidden=(), hidden=(16,), batch_norm=True).state_dict(),
              tmp_path / "other.safetensors")
    (tmp_path / "text.pt").write_text("not weights")
    common = ["run", "transfer-vgg16", "--data-dir", str(fake_cifar), "--model", "cifar-vgg", "--widths", "4,8,8",
              "--hidden", "16", "--quick", "--out", str(tmp_path / "runs")]
    for weights, expected in [(tmp_path / "none.safetensors", "no weights file at"),
                              (tmp_path / "other.safetensors", "tensor shapes in"),
                              (tmp_path / "text.pt", "is not a weights file")]:
        assert main(common + ["--weights", str(weights)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: ") and expected in err and "\n" not in err
    assert main(common[:2] + ["--weights", "imagenet", "--model", "cifar-vgg", "--data-dir", str(fake_cifar)]) == 2
    assert "--weights imagenet needs --model one of alexnet" in capsys.readouterr().err


@pytest.mark.slow
def test_real_transfer_beats_scratch_on_cat_vs_dog(shared_datasets, tmp_path):
    out = run_lab("transfer-vgg16", {"data_dir": str(shared_datasets / "cifar10-jpg"), "progress": False},
                  out=tmp_path / "runs")
    # measured: transfer 0.637, scratch 0.600, pretraining 0.857 (seed 0)
    assert out["test_accuracy"] > out["scratch_test_accuracy"] + 0.02
    assert out["pretrain_val_accuracy"] > 0.8


@pytest.mark.slow
def test_real_resnet_cifar_default_budget(shared_datasets, tmp_path):
    out = run_lab("resnet-cifar", {"data_dir": str(shared_datasets / "cifar10-jpg"), "progress": False},
                  out=tmp_path / "runs")
    assert out["test_accuracy"] >= 0.83  # measured 0.8465 in 380 s
