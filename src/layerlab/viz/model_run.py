"""`layerlab viz RUN_DIR`: a trained run's filters, feature maps and top predictions for one image.

The input is the user's `--image` (converted to what the model expects, and the user told how)
or else the first test image of the run's own dataset. The figures go to RUN_DIR/figures/viz
unless `--out` says otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from layerlab.data import get_dataset
from layerlab.data.transforms import float_normalize
from layerlab.engine.card import ModelCard
from layerlab.engine.deploy import image_input, load_trained
from layerlab.engine.run import RunDir
from layerlab.errors import LayerlabError
from layerlab.viz.model import draw_model_figures, first_conv, look_inside
from layerlab.viz.segmentation import visualize_segmentation
from layerlab.viz.style import tr
from layerlab.viz.words import say


def visualize_run(run_dir: str | Path, *, image: str | Path | None = None, layer: str | None = None,
                  lang: str = "en", out: str | Path | None = None) -> dict[str, Any]:
    """Draw the three model figures for one input; return what was shown as a JSON-able dict."""
    run = RunDir.open(run_dir)
    model, card = load_trained(run.path)
    first_conv(model)  # a model with no conv layer stops here, before any image is read
    if card.task == "segmentation":
        return visualize_segmentation(run.path, model, card, image=image, out=out, lang=lang)
    if card.task != "classification":   # the figures end in a top-5 of classes: a classifier's
        raise LayerlabError(f"viz draws a classifier's filters, feature maps and top classes; this run's task is "
                            f"{card.task!r}: use `layerlab predict {run_dir} IMAGE` for its predictions")
    if len(card.input_shape) != 3:
        raise LayerlabError(f"viz needs an image model; {card.model} takes inputs shaped {card.input_shape}")
    if image is not None:
        pixels, inputs, notes = image_input(card, Path(image))
        source = str(image)
    else:
        pixels, inputs, notes, source = _first_test_image(card)
    view = look_inside(model, inputs[0], classes=card.classes or None, layer=layer)
    out_dir = Path(out) if out is not None else run.figures / "viz"
    paths = draw_model_figures(view, pixels, out_dir, lang=lang, title=card.model)
    return {
        "run_dir": str(run.path), "model": card.model, "input": source, "notes": notes,
        "first_conv": view.first_conv, "filters": list(view.filters.shape),
        "feature_maps": {name: list(maps.shape) for name, maps in view.maps.items()},
        "top": [{"class": name, "probability": round(p, 4)} for name, p in view.top()],
        "figures": [str(p) for p in paths],
    }


def _first_test_image(card: ModelCard) -> tuple[Tensor, Tensor, list[str], str]:
    """The run's first test image: (uint8 pixels, normalised batch of one, notes, where it came from)."""
    try:
        test = get_dataset(card.dataset, split=card.test_split, root=card.data_dir)
    except LayerlabError as exc:
        raise LayerlabError(f"cannot load the run's {card.dataset or 'unnamed'} test images ({exc}); "
                            "give one with --image FILE") from None
    if len(test) == 0 or test.inputs.dim() != 4:
        raise LayerlabError(f"the run's {card.dataset} test split has no images; give one with --image FILE")
    pixels, target = test[0]
    notes = []
    channels, height, width = card.input_shape
    if pixels.shape[0] != channels:
        raise LayerlabError(f"{card.dataset} images have {pixels.shape[0]} channels but the model takes {channels}; "
                            "give one with --image FILE")
    if tuple(pixels.shape[1:]) != (height, width):
        notes.append(f"resized {pixels.shape[2]}x{pixels.shape[1]} to {width}x{height}")
        resized = F.interpolate(pixels[None].float(), size=(height, width), mode="bilinear", align_corners=False)
        pixels = resized[0].round().clamp(0, 255).to(torch.uint8) if pixels.dtype == torch.uint8 else resized[0]
    inputs, _ = float_normalize(card.mean, card.std)(pixels.unsqueeze(0), torch.zeros(1), torch.Generator())
    label = test.classes[int(target)] if test.classes else str(int(target))
    return pixels, inputs, notes, f"test image 0 of {card.dataset} (true class {label})"


def describe_run_view(result: dict[str, Any], lang: str = "en") -> str:
    """The human-readable lines `layerlab viz` prints, in `lang` (viz.words)."""
    def w(text: str) -> str:
        return say(text, lang)

    lines = [f"{w('input')}: {w(result['input'])}"] + [f"  {w('note')}: {w(n)}" for n in result["notes"]]
    if "top" not in result:   # a segmentation run: feature maps level by level, no class ranking
        lines += [f"  {name}: {c}@{h}x{w_}" for name, (c, h, w_) in result["feature_maps"].items()]
        return "\n".join(lines + [f"{w('figures')}:"] + [f"  {p}" for p in result["figures"]])
    best = result["top"][0]
    top = tr(lang, f"top {len(result['top'])}", f"상위 {len(result['top'])}개")
    lines.append(f"{w('prediction')}: {best['class']} ({best['probability']:.3f})   {top}:")
    lines += [f"  {t['class']:<20} {t['probability']:.4f}" for t in result["top"]]
    out_ch, in_ch, kh, kw = result["filters"]
    filters = tr(lang, f"{out_ch} filters of {in_ch}x{kh}x{kw}", f"필터 {out_ch}개, 크기 {in_ch}x{kh}x{kw}")
    lines.append(f"{w('first conv layer')} {result['first_conv']}: {filters}")
    maps = ", ".join(f"{name} {c}@{h}x{w_}" for name, (c, h, w_) in result["feature_maps"].items())
    lines.append(f"{w('feature maps')}: {maps}")
    lines += [f"{w('figures')}:"] + [f"  {p}" for p in result["figures"]]
    return "\n".join(lines)
