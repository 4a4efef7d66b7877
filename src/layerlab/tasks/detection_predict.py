"""`layerlab predict RUN_DIR image.png` and `layerlab eval RUN_DIR` for a detection run.

predict proposes regions on the image with the run's settings, detects, writes
<stem>_detections.png beside it (each box with its class and score) and prints the boxes as JSON;
eval scores the saved weights on the run's test images again (mAP@0.5 and COCO AP).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn

from layerlab.data import get_dataset
from layerlab.data.imagefile import load_image
from layerlab.data.proposals import propose
from layerlab.data.transforms import float_normalize
from layerlab.engine.card import ModelCard
from layerlab.engine.detection_metrics import detection_metrics
from layerlab.engine.predictors import PredictOptions, register_predictor
from layerlab.errors import LayerlabError
from layerlab.tasks.detection import detect, detect_all
from layerlab.tasks.detection_runs import PROPOSALS

COLOURS = [(230, 25, 75), (60, 180, 75), (67, 99, 216), (245, 130, 49), (145, 30, 180), (66, 212, 244),
           (240, 50, 230), (191, 239, 69), (250, 190, 212), (70, 153, 144)]
MIN_SCORE = 0.5          # what predict reports and draws; eval scores every detection


def draw_boxes(image: torch.Tensor, found: list[dict[str, Any]]) -> Image.Image:
    """The image (C, H, W) uint8 as RGB with each detection's box and "class score" drawn on it."""
    pixels = image.expand(3, -1, -1) if image.shape[0] == 1 else image[:3]
    picture = Image.fromarray(pixels.permute(1, 2, 0).numpy())
    pen = ImageDraw.Draw(picture)
    for item in found:
        colour = COLOURS[item["class_id"] % len(COLOURS)]
        pen.rectangle(item["box"], outline=colour, width=2)
        pen.text((item["box"][0] + 2, item["box"][1] + 1), f"{item['class']} {item['score']:.2f}", fill=colour)
    return picture


def describe_detections(result: dict[str, Any]) -> str:
    boxes = [{k: v for k, v in d.items() if k != "class_id"} for d in result["detections"]]
    notes = "".join(f"\n  note: {n}" for n in result["notes"])
    return f"{result['file']}: {len(boxes)} boxes (score >= {MIN_SCORE}), drawn in {result['drawn']}\n{json.dumps(boxes)}{notes}"


def prepared(model: nn.Module, card: ModelCard) -> nn.Module:
    """The model laid out as the run trained and scored it: channels_last with bf16 autocast (the `amp` option)."""
    return model.to(memory_format=torch.channels_last) if card.extra.get("amp", False) else model


def evaluate_detections(model: nn.Module, card: ModelCard) -> dict[str, float]:
    """The run's test images scored again from the saved weights."""
    test = get_dataset(card.dataset, split="test", root=card.data_dir, **card.extra.get("dataset_options", {}))
    proposals = [propose(image, **PROPOSALS[card.extra["proposals"]])[0] for image in test.inputs]
    found, _ = detect_all(prepared(model, card), test, proposals, float_normalize(card.mean, card.std),
                          amp=card.extra.get("amp", False))
    return {"examples": len(test), **{f"test_{k}": v for k, v in detection_metrics(found, test.targets, card.classes).items()}}


@register_predictor("detection", describe=describe_detections, evaluate=evaluate_detections)
def predict_boxes(model: nn.Module, card: ModelCard, path: Path, options: PredictOptions) -> list[dict[str, Any]]:
    """Boxes scoring >= 0.5 on one image at its own size: class, score and x1, y1, x2, y2 in its pixels."""
    image, notes = load_image(path, card.input_shape[0], None)                      # (C, H, W) uint8
    settings = PROPOSALS[card.extra["proposals"]]
    if min(image.shape[1:]) < min(settings["sizes"]):
        raise LayerlabError(f"{path} is {image.shape[2]}x{image.shape[1]} pixels: too small for the run's smallest "
                            f"proposal ({min(settings['sizes'])} px)")
    scale = float(card.extra.get("scale", 1.0))          # bccd trains on its photos at half size: so is yours
    seen = image if scale == 1.0 else F.interpolate(image[None].float(), scale_factor=scale, mode="bilinear", antialias=True,
                                                    align_corners=False)[0].round().clamp(0, 255).to(torch.uint8)
    if scale != 1.0:
        notes.append(f"scaled by {scale:g} to {seen.shape[2]}x{seen.shape[1]}, as the run's training images were")
    proposals = propose(seen, **settings)[0]
    inputs, _ = float_normalize(card.mean, card.std)(seen.unsqueeze(0), None, torch.Generator())
    found = detect(prepared(model, card), inputs, [proposals], amp=card.extra.get("amp", False))[0]
    keep = found["scores"] >= MIN_SCORE
    boxes = found["boxes"][keep] / scale                  # in the file's own pixels
    items = [{"class": card.classes[c], "class_id": c, "score": round(s, 4), "box": [round(x, 1) for x in b]}
             for b, s, c in zip(boxes.tolist(), found["scores"][keep].tolist(), found["labels"][keep].tolist())]
    drawn = path.with_name(f"{path.stem}_detections.png")
    try:
        draw_boxes(image, items).save(drawn)
    except OSError as exc:
        raise LayerlabError(f"cannot write {drawn}: {exc.strerror or exc}") from None
    return [{"file": str(path), "drawn": str(drawn), "detections": items, "notes": notes}]
