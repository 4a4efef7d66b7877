"""Segmentation figures: image / truth / prediction / errors per slice, several nets' class masks side by
side, what the elastic warp does, and a U-Net's feature maps level by level (`layerlab viz RUN_DIR` on a
segmentation run).

Pure functions from tensors to a matplotlib Figure (viz.style.new_figure); the caller saves it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch
from torch import Tensor, nn

from layerlab.data import get_dataset
from layerlab.data.transforms import float_normalize, random_elastic
from layerlab.engine.card import ModelCard
from layerlab.errors import LayerlabError
from layerlab.inspect.capture import capture
from layerlab.models.fcn import FCN
from layerlab.models.unet import UNet
from layerlab.tasks.segmentation import predict_scores, segmentation_input
from layerlab.viz.style import new_figure, save_figure, tr
from layerlab.viz.words import localize_figure

if TYPE_CHECKING:  # only for annotations: matplotlib is imported lazily
    from matplotlib.figure import Figure


def error_overlay(image: Tensor, truth: Tensor, predicted: Tensor, positive: int = 1) -> Tensor:
    """The gray image (1, H, W) uint8 as RGB floats (H, W, 3) in [0, 1] with the mistakes painted:
    red = `positive` predicted where the truth says otherwise (false positive), blue = missed."""
    rgb = (image[0].float() / 255).unsqueeze(-1).repeat(1, 1, 3)              # (H, W, 3)
    false_pos = (predicted == positive) & (truth != positive)
    false_neg = (predicted != positive) & (truth == positive)
    rgb[false_pos] = torch.tensor([1.0, 0.1, 0.1])
    rgb[false_neg] = torch.tensor([0.1, 0.4, 1.0])
    return rgb


def plot_segmentations(images: Tensor, truths: Tensor, predictions: Tensor, names: Sequence[str], *,
                       classes: Sequence[str] = ("cell", "membrane"), positive: int = 1,
                       title: str = "Held-out slices") -> Figure:
    """One row per slice: image, true mask, predicted mask, errors (red: false `positive`, blue: missed).

    images: (N, 1, H, W) uint8; truths and predictions: (N, H, W) class ids.
    """
    n = len(images)
    fig, axes = new_figure(n, 4, (12, 3.1 * n))
    headers = ("image", f"truth (white = {classes[positive]})", "prediction",
               f"errors: red = false {classes[positive]}, blue = missed")
    for i in range(n):
        wrong = float((predictions[i] != truths[i]).float().mean())
        panels = (images[i, 0].float() / 255, (truths[i] == positive).float(), (predictions[i] == positive).float(),
                  error_overlay(images[i], truths[i], predictions[i], positive))
        for j, (ax, panel) in enumerate(zip(axes[i], panels)):
            ax.imshow(panel.numpy(), cmap="gray", vmin=0, vmax=1)
            ax.axis("off")
            ax.set_title(f"{names[i]}: {headers[j]}" if j == 0 else headers[j] if j < 3 else
                         f"{wrong:.1%} of pixels wrong", fontsize=8)
    fig.suptitle(title)
    return fig


CLASS_COLOURS = ((0.12, 0.12, 0.12), (0.9, 0.2, 0.2), (0.2, 0.5, 0.95), (0.95, 0.8, 0.1), (0.3, 0.85, 0.3))
COLOUR_NAMES = ("dark", "red", "blue", "yellow", "green")


def class_colours(mask: Tensor) -> Tensor:
    """Class ids (H, W) as RGB (H, W, 3) in [0, 1]: background dark, then red, blue, yellow, green."""
    palette = torch.tensor(CLASS_COLOURS)
    return palette[mask % len(palette)]


def plot_class_predictions(images: Tensor, truths: Tensor, predictions: dict[str, Tensor], classes: Sequence[str], *,
                           title: str = "Test images: truth and each net's prediction") -> Figure:
    """One row per image: the image, its true mask, then each named net's predicted mask, coloured by class,
    each titled with the share of its pixels that are right.

    images: (N, C, H, W) uint8 (C = 1 or 3); truths and every prediction: (N, H, W) class ids.
    """
    n, columns = len(images), 2 + len(predictions)
    fig, axes = new_figure(n, columns, (2.6 * columns, 2.6 * n + 0.6))
    for i in range(n):
        picture = images[i].permute(1, 2, 0).float() / 255                     # (H, W, C)
        panels = [(picture.expand(-1, -1, 3), "image"), (class_colours(truths[i]), "truth")]
        panels += [(class_colours(mask[i]), f"{name}: {float((mask[i] == truths[i]).float().mean()):.1%} right")
                   for name, mask in predictions.items()]
        for ax, (panel, label) in zip(axes[i], panels):
            ax.imshow(panel.numpy(), vmin=0, vmax=1, interpolation="nearest")
            ax.axis("off")
            ax.set_title(label, fontsize=8)
    key = ", ".join(f"{name} {COLOUR_NAMES[k % len(COLOUR_NAMES)]}" for k, name in enumerate(classes))
    fig.suptitle(f"{title}\n({key})")
    return fig


def plot_elastic(image: Tensor, mask: Tensor, *, grid: int = 3, sigma: float = 10.0, seed: int = 0,
                 spacing: int = 32) -> Figure:
    """One slice (1, H, W) uint8 and its mask (H, W) before and after random_elastic, with a line grid
    drawn on a copy so the smooth displacement field shows; the mask follows the same field."""
    lines = image.clone()
    lines[:, ::spacing, :] = 255                                               # a white line every `spacing` px
    lines[:, :, ::spacing] = 255
    both = torch.cat([image, lines])[None]                                     # (1, 2, H, W): one field for both channels
    warp = random_elastic(grid=grid, sigma=sigma, targets="mask")
    warped, moved = warp(both, mask[None], torch.Generator().manual_seed(seed))   # (1, 2, H, W), (1, H, W)
    fig, axes = new_figure(2, 3, (10, 7))
    panels = [(lines[0], "slice with a grid"), (mask, "mask (white = membrane)"), (image[0], "slice"),
              (warped[0, 1], f"warped ({grid}x{grid} control points, σ = {sigma:g} px)"),
              (moved[0], "mask through the same field (nearest)"), (warped[0, 0], "warped slice")]
    for ax, (panel, label) in zip(axes.flat, panels):
        ax.imshow(panel.float().numpy(), cmap="gray")
        ax.axis("off")
        ax.set_title(label, fontsize=9)
    fig.suptitle("Elastic deformation (U-Net paper): a smooth random warp; image and mask move together")
    return fig


def level_names(model: nn.Module) -> list[str]:
    """The layers whose outputs `layerlab viz` draws, input side first: a U-Net's encoder, bottom and
    decoder; an FCN's five pools, fc7 (a fully connected layer as a conv), the coarse scores, each
    learned 2x upsampling of the skips, and the final upsampling to pixels."""
    if isinstance(model, UNet):
        return [f"encoder.{i}" for i in range(len(model.encoder))] + ["bottom"] + \
               [f"decoder.{i}" for i in range(len(model.decoder))]
    if isinstance(model, FCN):
        skips = [name for name in ("upscore2", "upscore_pool4") if hasattr(model, name)]
        return [f"features.{name}" for name, _ in model.features.named_children()] + ["fc7", "score_fr", *skips, "upscore"]
    raise LayerlabError(f"viz draws the levels of a U-Net or an FCN; this run's model is a {type(model).__name__}")


def unet_levels(model: nn.Module, inputs: Tensor) -> tuple[dict[str, Tensor], Tensor]:
    """Feature maps (C, H, W) of one normalised image (1, C, H, W) at every level (`level_names`),
    with the predicted class ids (H, W)."""
    names = level_names(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), capture(model, *names) as records:
            scores = predict_scores(model, inputs)
    finally:
        model.train(was_training)
    return {name: records[name][0].float() for name in names}, scores[0].argmax(dim=0)


def plot_unet_levels(maps: dict[str, Tensor], picture: Tensor, predicted: Tensor, *, per_level: int = 4,
                     title: str = "U-Net") -> Figure:
    """One row per level: the `per_level` most active channels of its feature maps (mean |activation|),
    with the input and the prediction in the first column's rows 0 and 1."""
    fig, axes = new_figure(len(maps), per_level + 1, (2.2 * (per_level + 1), 2.2 * len(maps)))
    for row, (name, level) in enumerate(maps.items()):
        strongest = level.abs().mean(dim=(1, 2)).argsort(descending=True)[:per_level]
        first = {0: (picture[0].float(), "input"), 1: (predicted.float(), "prediction")}.get(row)
        axes[row][0].axis("off")
        if first is not None:
            axes[row][0].imshow(first[0].numpy(), cmap="gray", vmin=0, vmax=255 if row == 0 else max(1, int(predicted.max())))
            axes[row][0].set_title(first[1], fontsize=8)
        for col, channel in enumerate(strongest.tolist(), start=1):
            axes[row][col].imshow(level[channel].numpy(), cmap="viridis")
            axes[row][col].axis("off")
            axes[row][col].set_title(f"{name} ch {channel} ({level.shape[0]}@{level.shape[1]}x{level.shape[2]})", fontsize=7)
    fig.suptitle(f"{title} feature maps: down the encoder (coarser, more channels), back up to pixels")
    return fig


def visualize_segmentation(run_dir: Path, model: nn.Module, card: ModelCard, *, image: str | Path | None = None,
                           out: str | Path | None = None, lang: str = "en") -> dict[str, Any]:
    """`layerlab viz` for a segmentation run: the U-Net's feature maps level by level for the user's
    image, or else the run's first held-out section; writes unet_levels.png."""
    level_names(model)                  # a U-Net or an FCN, or a one-line error before any work
    if image is not None:
        pixels, inputs, notes = segmentation_input(card, Path(image))
        source = str(image)
    else:
        test = get_dataset(card.dataset, split=card.test_split, root=card.data_dir, **card.extra.get("dataset_options", {}))
        pixels, notes = test.inputs[0], []
        inputs = float_normalize(card.mean, card.std)(pixels[None], test.targets[:1], torch.Generator())[0]
        source = f"held-out section {test.meta['files'][0]} of {card.dataset}"
    maps, predicted = unet_levels(model, inputs)
    out_dir = Path(out) if out is not None else Path(run_dir) / "figures" / "viz"
    out_dir.mkdir(parents=True, exist_ok=True)
    unet = isinstance(model, UNet)
    name, file = ("U-Net", "unet_levels.png") if unet else (card.model.replace("fcn", "FCN"), "fcn_levels.png")
    caption = tr(lang, "Notice that the encoder's maps get coarser and more abstract, and the decoder's sharpen again "
                       "where the skip connections bring the fine detail back.",
                 "인코더의 특징 맵은 점점 거칠고 추상적으로 바뀌고, 디코더의 특징 맵은 스킵 연결이 세부 정보를 "
                 "다시 가져오는 곳에서 또렷해진다는 점에 주목하세요.") if unet else \
        tr(lang, "Notice that the pools get coarser down to stride 32, where fc7 and the class scores live; each "
                 "learned 2x upsampling adds a finer pool's scores back, and the last one is fixed bilinear.",
           "풀링을 지날수록 특징 맵이 거칠어져 fc7과 클래스 점수가 있는 스트라이드 32까지 내려가고, 학습된 2x "
           "업샘플링마다 더 촘촘한 풀링 층의 점수를 다시 더하며, 마지막 업샘플링은 고정된 쌍선형이라는 점에 주목하세요.")
    figure = localize_figure(plot_unet_levels(maps, pixels, predicted, title=name), lang)
    path = save_figure(figure, out_dir / file, tr(lang, f"{name} levels", f"{name}의 층별 특징 맵"), caption, lang)
    return {"run_dir": str(run_dir), "model": card.model, "input": source, "notes": notes,
            "feature_maps": {name: list(level.shape) for name, level in maps.items()}, "figures": [str(path)]}
