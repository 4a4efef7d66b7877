"""Lab: SPPNet against R-CNN, and RoI pooling (Fast R-CNN). Course unit: object detection.

Goal: the same detections as R-CNN, much faster. R-CNN runs its CNN once per region (~300 per
image); SPPNet (He et al., 2014) runs the convolutions once per image and max-pools each region's
window of the feature map into a spatial pyramid of 4x4, 2x2 and 1x1 bins: 21 x 32 numbers for
any window, the fixed length the fully connected layers need. Both are trained here on the same
`mnist-detection` canvases, proposals, seed and recipe, with the same parameters (255,983), and
scored on the same test images. Goals: SPPNet mAP@0.5 >= 0.90 and within 0.02 of R-CNN's, and
its test time per image set against R-CNN's (the paper: 24-102x faster).
Measured once (defaults, seed 0): SPPNet mAP@0.5 0.9553 (COCO AP 0.4958), R-CNN 0.9611 (0.6183):
0.0058 apart, inside the 0.02 band. SPPNet scores a test image about twice as fast as R-CNN in
bf16 (the README has the times): R-CNN's 300 small CNN passes per image became cheap in bf16,
while most of SPPNet's time is its 300 separate pyramid poolings, one per region.
`--roi-pool` adds the last step of the story: one 4x4 level (Fast R-CNN's RoI pooling) and the
class and box heads trained with one joint loss instead of a ridge regression afterwards.
`--no-compare-rcnn` trains SPPNet alone; `--dataset bccd` runs on real blood-smear photographs.
"""

from __future__ import annotations

from dataclasses import dataclass

from layerlab.engine import RunDir
from layerlab.labs.base import LabResult, option, register_lab
from layerlab.labs.detection_lab import DetectionConfig, run_detection


@dataclass(frozen=True)
class SppnetConfig(DetectionConfig):
    compare_rcnn: bool = option(True, "also train R-CNN by the same recipe and compare mAP and test time")
    roi_pool: bool = option(False, "also train Fast R-CNN: one 4x4 RoI-pooling level, joint class + box loss")


@register_lab("sppnet", config=SppnetConfig, title="SPPNet: one conv pass per image, a spatial pyramid per region",
              unit="Detection: SPPNet (이미지 전체에 한 번 합성곱, box에 해당하는 feature map만 뽑기), Fast R-CNN", metric="test_map50", higher_is_better=True)
def sppnet(cfg: SppnetConfig, run: RunDir) -> LabResult:
    # the variants in the order trained; the last one is the run's saved model (SPPNet)
    variants = ("rcnn",) * cfg.compare_rcnn + ("fast-rcnn",) * cfg.roi_pool + ("sppnet",)
    # 1-5 in labs/detection_lab.py: data, proposals, training, box regression, detection, report
    return run_detection(cfg, run, variants)
