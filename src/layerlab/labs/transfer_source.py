"""Where transfer-vgg16's pretrained weights come from: ImageNet, the user's file, or the offline
demonstration's small VGG-style net ("cifar-vgg") pretrained here on the other CIFAR-10 classes.

`cfg` is the lab's TransferVgg16Config (weights, model, widths, hidden, dropout, pretrain_epochs, ...).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from layerlab.data import train_val_split
from layerlab.data.tensors import TensorData, select_classes
from layerlab.engine import RunDir, evaluate, fit
from layerlab.errors import LayerlabError
from layerlab.models import get_model
from layerlab.models.pretrained import IMAGENET_URLS


def build(cfg: Any, arch: str, num_classes: int) -> tuple[nn.Module, str, dict[str, Any]]:
    """(model, registered name, overrides) for `num_classes`; "cifar-vgg" is cifar-cnn with BN, narrow widths, dropout."""
    if arch != "cifar-vgg":
        return get_model(arch, num_classes=num_classes), arch, {"num_classes": num_classes}
    overrides = {"widths": cfg.widths, "block_hidden": (), "hidden": (cfg.hidden,), "batch_norm": True,
                 "dropout": cfg.dropout, "num_classes": num_classes}
    return get_model("cifar-cnn", **overrides), "cifar-cnn", overrides


def pretrained_weights(cfg: Any, train: TensorData | None, others: tuple[str, ...], augment: Any, to_eval: Any,
                       run: RunDir) -> tuple[str, dict[str, float], str]:
    """(weights source, pretraining metrics, architecture): the user's weights, or pretrain cifar-vgg here."""
    if cfg.weights == "imagenet":
        if cfg.model not in IMAGENET_URLS:
            raise LayerlabError(f"--weights imagenet needs --model one of {', '.join(IMAGENET_URLS)}; got {cfg.model}")
        return IMAGENET_URLS[cfg.model], {}, cfg.model
    if cfg.weights:
        return cfg.weights, {}, cfg.model
    assert train is not None   # no --weights: the source task's images were read
    source = select_classes(train, others)
    if cfg.quick:
        source = source.subset(slice(0, None, max(1, len(source) // 1000)))
    source, val = train_val_split(source, 0.1, seed=cfg.seed)
    model, _, _ = build(cfg, "cifar-vgg", len(others))
    fit(model, source, val=val, run=run, stage="pretrain", loss=nn.CrossEntropyLoss(label_smoothing=0.1),
        optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4, schedule="one-cycle",
        epochs=1 if cfg.quick else cfg.pretrain_epochs, batch_size=128, amp=cfg.amp, channels_last=cfg.channels_last,
        device=cfg.device, seed=cfg.seed, transform=augment, eval_transform=to_eval, progress=cfg.progress)
    pretrain = evaluate(model, val, transform=to_eval, amp=cfg.amp)
    return str(run.weights_path("pretrain")), {"pretrain_val_accuracy": pretrain["accuracy"]}, "cifar-vgg"
