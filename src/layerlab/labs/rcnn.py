"""Lab: R-CNN, regions with CNN features. Course unit: object detection (R-CNN → SPPNet → Fast R-CNN).

Goal: find and name every digit on 128x128 canvases of `mnist-detection` (1-5 real MNIST digits
each, scaled 0.75-2x, exact boxes), the way Girshick et al. (2014) found objects: (1) a cheap
method proposes ~300 regions per image (sliding windows ranked by objectness,
layerlab.data.proposals); (2) each region, with 2 pixels of context on every side (the paper's
16 of 227: `--context`), is warped to 32x32 pixels and run through a CNN that
first learned the ten digits as a plain classifier on whole MNIST digits (the paper's supervised
pre-training) and is then fine-tuned on regions labelled by their IoU with the true boxes
(>= 0.5: that digit, else background); (3) a ridge regression on the CNN's last hidden layer moves each box; (4) NMS per
class removes duplicates. Scored by mAP@0.5 (Pascal VOC) and COCO AP@[.5:.95].
`--dataset bccd` runs the same on real blood-smear photographs (per-class AP for RBC, WBC and
platelets), `--dataset voc-folder` or `coco-folder` with `--data-dir DIR` on your own annotated photos.
What it costs: one CNN pass per region. `layerlab run sppnet` pays one per image.
"""

from __future__ import annotations

from dataclasses import dataclass

from layerlab.engine import RunDir
from layerlab.labs.base import LabResult, register_lab
from layerlab.labs.detection_lab import DetectionConfig, run_detection


@dataclass(frozen=True)
class RcnnConfig(DetectionConfig):
    pass


@register_lab("rcnn", config=RcnnConfig, title="R-CNN: a CNN on every warped region proposal",
              unit="Detection: R-CNN (patch 2,000개를 같은 크기로 맞춰 각각 CNN으로 분류)", metric="test_map50", higher_is_better=True)
def rcnn(cfg: RcnnConfig, run: RunDir) -> LabResult:
    # 1-5 in labs/detection_lab.py: data, proposals, training, box regression, detection, report
    return run_detection(cfg, run, ("rcnn",))
