"""The detection labs' shared steps: read the sets, propose regions, train one variant, score it.

The `rcnn` and `sppnet` labs run the same pipeline with different variants, so that R-CNN and
SPPNet see the same images, the same proposals, the same seed and the same recipe, and their
mAP and seconds per image can be set side by side.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from layerlab.data import get_dataset
from layerlab.data.proposals import propose, proposal_recall
from layerlab.data.tensors import BatchTransform, TensorData
from layerlab.engine import fit
from layerlab.engine.checkpoint import save_weights
from layerlab.engine.detection_metrics import detection_metrics
from layerlab.engine.loop import History
from layerlab.engine.run import RunDir
from layerlab.errors import LayerlabError
from layerlab.models import get_model
from layerlab.models.detector import WholeImageClassifier
from layerlab.tasks.detection import RegionTraining, detect_all, fit_box_regressor, region_dataset

# proposal settings per dataset: window sizes (√area, px), width/height ratios, how many to keep
PROPOSALS: dict[str, dict[str, Any]] = {
    # digits 20-56 px tall, a "1" five times taller than wide
    "mnist-detection": {"sizes": tuple(round(12 * 1.2**i, 1) for i in range(10)), "ratios": (0.2, 0.4, 0.7, 1.0),
                        "top_k": 300, "background": "median"},
    # at half size: platelets ~20 px, red cells ~50 px, white cells ~100 px, touching each other
    "bccd": {"sizes": tuple(round(14 * 1.25**i, 1) for i in range(12)), "ratios": (0.5, 0.75, 1.0, 1.33, 2.0),
             "top_k": 1000, "pre_nms": 4000, "background": "light"},
}
# your own data (Pascal VOC or COCO JSON): objects of 16-230 px against a background that is most of the image
PROPOSALS["voc-folder"] = PROPOSALS["coco-folder"] = {"sizes": tuple(round(16 * 1.25**i, 1) for i in range(12)),
                                                      "ratios": (0.5, 0.75, 1.0, 1.33, 2.0), "top_k": 1000, "pre_nms": 4000,
                                                      "background": "median"}
DATASETS = tuple(PROPOSALS)


@dataclass
class Variant:
    """One trained detector and what it scored."""

    method: str
    model: nn.Module
    history: History
    metrics: dict[str, float]
    detections: list[dict[str, Tensor]]
    seconds_per_image: float          # test time of the network (proposals excluded: the same for every variant)
    train_seconds: float


def read_sets(dataset: str, root: str | None, counts: dict[str, int], seed: int) -> dict[str, TensorData]:
    """train / val / test of `dataset`: generated canvases (`counts` of each), or the splits of BCCD or of your
    VOC / COCO folder (cut to `counts`)."""
    if dataset not in PROPOSALS:
        raise LayerlabError(f"--dataset must be one of {', '.join(PROPOSALS)}, got {dataset!r}")
    if dataset == "mnist-detection":
        return {split: get_dataset(dataset, split=split, root=root, seed=seed, count=n) for split, n in counts.items()}
    sets = {split: get_dataset(dataset, split=split, root=root) for split in counts}
    return {split: data if len(data) <= counts[split] else data.subset(torch.arange(counts[split])) for split, data in sets.items()}


def propose_all(data: TensorData, dataset: str) -> tuple[list[Tensor], float]:
    """Proposals for every image, and the seconds each image took."""
    began = time.perf_counter()
    boxes = [propose(image, **PROPOSALS[dataset])[0] for image in data.inputs]
    return boxes, (time.perf_counter() - began) / max(len(data), 1)


def recall_table(proposals: Sequence[Tensor], data: TensorData) -> dict[str, float]:
    """Proposal recall at IoU 0.5 and 0.7, overall and per class at 0.5."""
    truths = [t["boxes"] for t in data.targets]
    row = {"recall@0.5": proposal_recall(proposals, truths, 0.5), "recall@0.7": proposal_recall(proposals, truths, 0.7)}
    for c, name in enumerate(data.classes):
        row[f"recall@0.5 {name}"] = proposal_recall(proposals, [t["boxes"][t["labels"] == c] for t in data.targets], 0.5)
    return row


def pretrain(model: nn.Module, digits: TensorData, transform: BatchTransform, options: dict[str, Any]) -> History:
    """One epoch of the detector as a whole-image classifier on `digits` (supervised pre-training)."""
    return fit(WholeImageClassifier(model), digits, loss="cross_entropy", optimizer="adam", lr=options["lr"], epochs=1,
               batch_size=64, transform=transform, eval_transform=transform, device=options["device"], seed=options["seed"],
               amp=options["amp"], channels_last=options["amp"], progress=options["progress"])


def pretraining_digits(root: str | None, count: int, seed: int) -> TensorData:
    """`count` MNIST training digits from the rows the training canvases draw from (never the test digits)."""
    digits = get_dataset("mnist", split="train", root=root)
    rows = torch.randperm(len(digits) * 5 // 6, generator=torch.Generator().manual_seed(seed))[:count]
    return digits.subset(rows)


def train_variant(method: str, sets: dict[str, TensorData], proposals: dict[str, list[Tensor]], transform: BatchTransform, *,
                  options: dict[str, Any], run: RunDir | None, stage: str) -> Variant:
    """Train `method` from the shared seed on the labelled proposals, fit its box regressor (unless the
    loss was joint), and score it on the test images."""
    train = region_dataset(sets["train"], proposals["train"])
    val = region_dataset(sets["val"], proposals["val"])
    torch.manual_seed(options["seed"])            # the same initial weights for every variant
    model = get_model(method, in_channels=train.inputs.shape[1], num_classes=len(train.classes), **options.get(method, {}))
    began = time.perf_counter()
    if options.get("pretrain"):                   # R-CNN's recipe: learn the classes on whole images first
        pretrain(model, options["pretrain"], transform, options)
    step = RegionTraining(model, lr=options["lr"], per_image=options["per_image"], joint=method == "fast-rcnn",
                          seed=options["seed"], amp=options["amp"])
    history = fit(step, train, val=val, epochs=options["epochs"], batch_size=options["batch_size"], schedule="cosine",
                  transform=transform, eval_transform=transform, device=options["device"], seed=options["seed"],
                  channels_last=options["amp"], run=run, stage=stage, progress=options["progress"])
    if method != "fast-rcnn":                     # R-CNN and SPPNet: box offsets by ridge regression, afterwards
        fit_box_regressor(model, train, transform, amp=options["amp"])
        if run is not None:
            save_weights(model, run.weights_path(stage), {"stage": stage, "box": "ridge"})
    train_seconds = time.perf_counter() - began
    detections, seconds = detect_all(model, sets["test"], proposals["test"], transform, amp=options["amp"])
    metrics = detection_metrics(detections, sets["test"].targets, sets["test"].classes)
    return Variant(method, model, history, metrics, detections, seconds, train_seconds)
