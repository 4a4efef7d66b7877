"""Semantic segmentation: one class per pixel (course unit: semantic segmentation, U-Net).

Training needs no step of its own: `Supervised` with cross-entropy already compares (B, C, H, W)
logits with (B, H, W) masks pixel by pixel. What is particular is what gets measured
(`segmentation_metrics`), and how a trained net is used: `layerlab predict RUN_DIR image.png`
writes the predicted mask and an overlay next to the image and prints how much of it each class
covers; `layerlab eval RUN_DIR` scores the saved weights on the run's held-out block again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from layerlab.data import get_dataset
from layerlab.data.imagefile import load_image
from layerlab.data.transforms import float_normalize
from layerlab.engine.card import ModelCard
from layerlab.engine.loop import evaluate
from layerlab.engine.metrics import MeanIoU, MeanLoss, Metric, PixelAccuracy
from layerlab.engine.predictors import PredictOptions, register_predictor
from layerlab.engine.segmentation_metrics import AdaptedRandF, ClassIoU, Dice, PixelError
from layerlab.errors import LayerlabError
from layerlab.models.fcn import FCN
from layerlab.models.unet import UNet

OVERLAY = [(0, 0, 0), (255, 40, 40), (40, 200, 255), (255, 220, 0), (80, 255, 80)]   # tint per class; 0 untinted


def segmentation_metrics(*, num_classes: int = 2, positive: int = 1, name: str = "membrane",
                         region_class: int = 0) -> dict[str, Metric]:
    """What a segmentation is scored by: the mean loss, pixel accuracy, the `positive` class's IoU and Dice (named
    `name`), mean IoU, the ISBI pixel error, and the adapted Rand F-score of `region_class` regions."""
    # the two after the loss are the ones the training curves draw (viz.curves.plot_history)
    return {"loss": MeanLoss(), f"{name}_iou": ClassIoU(class_index=positive), "rand_f": AdaptedRandF(region_class=region_class),
            "pixel_accuracy": PixelAccuracy(), f"{name}_dice": Dice(class_index=positive),
            "mean_iou": MeanIoU(num_classes=num_classes), "pixel_error": PixelError(class_index=positive)}


def class_metrics(classes: Sequence[str]) -> dict[str, Metric]:
    """What a many-class segmentation is scored by (the FCN paper's numbers): the mean loss, mean IoU over
    every class (background included, as the paper's mean IU), pixel accuracy, then each other class's IoU."""
    # the two after the loss are the ones the training curves draw (viz.curves.plot_history)
    return {"loss": MeanLoss(), "mean_iou": MeanIoU(num_classes=len(classes)), "pixel_accuracy": PixelAccuracy(),
            **{f"{name}_iou": ClassIoU(class_index=i) for i, name in enumerate(classes) if i > 0}}


def _metrics_of(card: ModelCard) -> dict[str, Metric]:
    if card.extra.get("scored_by") == "classes":
        return class_metrics(card.classes)
    return segmentation_metrics(num_classes=len(card.classes), **card.extra.get("metrics", {}))


def predict_scores(model: nn.Module, inputs: Tensor) -> Tensor:
    """Class scores (B, C, H, W) for normalised images of any size (B, C, H, W).

    "same" U-Nets need sides divisible by 2^depth, FCNs by 32: the image is mirrored out to the
    next multiple and the scores cut back. "valid" U-Nets see a mirrored margin as wide as their
    convs trim (the paper's overlap-tile strategy, here as one tile).
    """
    if not isinstance(model, (UNet, FCN)):              # a net that takes any size as it is
        with torch.no_grad():
            return model(inputs).float()
    h, w = inputs.shape[-2:]
    if isinstance(model, UNet) and model.cfg.padding == "valid":
        side = model.input_size_for(max(h, w))          # one square tile whose output covers the image
        margin = (side - model.output_size(side)) // 2
        pad = (margin, side - w - margin, margin, side - h - margin)
    else:
        multiple = 2**model.cfg.depth if isinstance(model, UNet) else 32     # an FCN's five poolings
        pad = (0, -w % multiple, 0, -h % multiple)
    padded = _mirror(inputs, pad)
    with torch.no_grad():
        scores = model(padded).float()
    return scores[..., :h, :w]


DIHEDRAL = [(turns, flip) for turns in range(4) for flip in (False, True)]    # the 8 symmetries of a square


def dihedral(x: Tensor, turns: int, flip: bool) -> Tensor:
    """x (..., H, W) mirrored left-right if `flip`, then turned `turns` quarter turns (H and W swap on odd turns)."""
    return torch.rot90(x.flip(-1) if flip else x, turns, dims=(-2, -1))


def undo_dihedral(x: Tensor, turns: int, flip: bool) -> Tensor:
    """The inverse of `dihedral`: turned back, then mirrored back."""
    x = torch.rot90(x, -turns, dims=(-2, -1))
    return x.flip(-1) if flip else x


def threshold_scores(probs: Tensor, threshold: float) -> Tensor:
    """Scores (B, C, H, W) whose argmax is the prediction: log-probabilities, and for two classes with a
    threshold other than 0.5 shifted by log(1 - t) and log(t), so that class 1 wins exactly where p1 > t."""
    scores = probs.clamp_min(1e-12).log()
    if threshold == 0.5:
        return scores                            # softmax(scores) = probs: the loss stays the averaged one's
    if probs.shape[1] != 2:
        raise LayerlabError(f"a threshold needs two classes, got {probs.shape[1]}; use 0.5 (plain argmax)")
    return scores - torch.tensor([1 - threshold, threshold], device=probs.device).log().view(1, 2, 1, 1)


class Segmenter(nn.Module):
    """A trained net as it is used on held-out images: with `tta` the softmax is averaged over the 8 flips
    and quarter turns of the image (each view's prediction turned back first), and class 1 is predicted
    where its probability exceeds `threshold`. Neither: the net's own scores, unchanged."""

    def __init__(self, model: nn.Module, *, tta: bool = False, threshold: float = 0.5) -> None:
        super().__init__()
        if not 0.0 < threshold < 1.0:
            raise LayerlabError(f"the threshold is a probability strictly between 0 and 1, got {threshold}")
        self.model, self.tta, self.threshold = model, tta, threshold

    def probabilities(self, x: Tensor) -> Tensor:
        """Softmax (B, C, H, W) of normalised images (B, C, H, W), averaged over the views."""
        views = DIHEDRAL if self.tta else DIHEDRAL[:1]
        total = sum(undo_dihedral(torch.softmax(predict_scores(self.model, dihedral(x, turns, flip)), dim=1), turns, flip)
                    for turns, flip in views)
        return total / len(views)

    def forward(self, x: Tensor) -> Tensor:
        if not self.tta and self.threshold == 0.5:
            return predict_scores(self.model, x)
        return threshold_scores(self.probabilities(x), self.threshold)


def choose_threshold(segmenter: Segmenter, inputs: Tensor, targets: Tensor, grid: Sequence[float],
                     *, region_class: int = 0) -> tuple[float, dict[float, float]]:
    """The threshold of `grid` with the best adapted Rand F-score on normalised `inputs` (B, C, H, W) and masks
    (B, H, W): the validation block, never the test one. Returns it and the F-score at every threshold."""
    device = next(segmenter.parameters()).device
    with torch.no_grad():
        probs = torch.cat([segmenter.probabilities(x.to(device)) for x in inputs.split(1)]).cpu()
    scores = {}
    for threshold in grid:
        metric = AdaptedRandF(region_class=region_class)
        metric.update(threshold_scores(probs, threshold), targets)
        scores[threshold] = metric.compute()
    return max(grid, key=lambda t: scores[t]), scores       # the first of equal best ones


def _mirror(x: Tensor, pad: tuple[int, int, int, int]) -> Tensor:
    """x (B, C, H, W) mirrored outwards by (left, right, top, bottom) pixels, in steps when a margin is
    wider than the image (a reflection can reach at most H - 1 or W - 1 pixels out)."""
    if min(x.shape[-2:]) < 2 and any(pad):
        raise LayerlabError(f"an image of {x.shape[-2]}x{x.shape[-1]} pixels is too small to mirror; give at least 2x2")
    remaining = list(pad)
    while any(remaining):
        h, w = x.shape[-2:]
        step = [min(r, limit - 1) for r, limit in zip(remaining, (w, w, h, h))]
        x = F.pad(x, tuple(step), mode="reflect")
        remaining = [r - s for r, s in zip(remaining, step)]
    return x


def segmentation_input(card: ModelCard, path: Path) -> tuple[Tensor, Tensor, list[str]]:
    """One image file at its own size: (uint8 pixels (C, H, W), normalised batch of one (1, C, H, W), notes)."""
    image, notes = load_image(path, card.input_shape[0], None)                       # (C, H, W) uint8, own size
    inputs, _ = float_normalize(card.mean, card.std)(image.unsqueeze(0), torch.zeros(1), torch.Generator())
    return image, inputs, notes


def overlay(image: Tensor, mask: Tensor, alpha: float = 0.45) -> np.ndarray:
    """The image (C, H, W) uint8 in gray or colour with each class > 0 of `mask` (H, W) tinted: (H, W, 3)."""
    rgb = image.expand(3, -1, -1).permute(1, 2, 0).float() if image.shape[0] == 1 else image.permute(1, 2, 0).float()
    tint = torch.tensor([OVERLAY[i % len(OVERLAY)] for i in range(int(mask.max()) + 1)], dtype=torch.float32)[mask]
    tinted = torch.where((mask > 0)[..., None], (1 - alpha) * rgb + alpha * tint, rgb)
    return tinted.round().clamp(0, 255).to(torch.uint8).numpy()


def _save_png(array: np.ndarray, path: Path) -> None:
    try:
        Image.fromarray(array).save(path)
    except OSError as exc:
        raise LayerlabError(f"cannot write {path}: {exc.strerror or exc}") from None


def describe_mask(result: dict[str, Any]) -> str:
    fractions = ", ".join(f"{name} {share:.3f}" for name, share in result["fractions"].items())
    lines = [f"{result['file']}: {fractions}   mask: {result['mask']}   overlay: {result['overlay']}"]
    return "\n".join(lines + [f"  note: {n}" for n in result["notes"]])


def as_used(model: nn.Module, card: ModelCard) -> nn.Module:
    """The saved net with the test-time augmentation and threshold its lab scored it with (none: itself)."""
    return Segmenter(model, tta=card.extra.get("tta", False), threshold=card.extra.get("threshold", 0.5)).eval()


def evaluate_masks(model: nn.Module, card: ModelCard) -> dict[str, float]:
    """The held-out block's metrics, from the saved weights, on the split the lab tested."""
    test = get_dataset(card.dataset, split=card.test_split, root=card.data_dir, **card.extra.get("dataset_options", {}))
    metrics = evaluate(as_used(model, card), test, loss="cross_entropy", metrics=_metrics_of(card), batch_size=4,
                       transform=float_normalize(card.mean, card.std), prefix="test_")
    return {"examples": len(test), **metrics}


@register_predictor("segmentation", describe=describe_mask, evaluate=evaluate_masks)
def predict_mask(model: nn.Module, card: ModelCard, path: Path, options: PredictOptions) -> list[dict[str, Any]]:
    """Write <stem>_mask.png (in the training masks' own pixel values) and <stem>_overlay.png next to the image."""
    image, inputs, notes = segmentation_input(card, path)
    mask = predict_scores(as_used(model, card), inputs)[0].argmax(dim=0)                         # (H, W) class ids
    values = card.extra.get("mask_values") or list(range(len(card.classes)))
    mask_path, overlay_path = path.with_name(f"{path.stem}_mask.png"), path.with_name(f"{path.stem}_overlay.png")
    _save_png(torch.tensor(values, dtype=torch.uint8)[mask].numpy(), mask_path)
    _save_png(overlay(image, mask), overlay_path)
    counts = torch.bincount(mask.flatten(), minlength=len(card.classes)).double() / mask.numel()
    return [{"file": str(path), "mask": str(mask_path), "overlay": str(overlay_path), "notes": notes,
             "fractions": {name: round(float(share), 4) for name, share in zip(card.classes, counts)}}]
