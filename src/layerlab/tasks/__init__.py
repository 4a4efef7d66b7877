"""Problem types beyond the one-model supervised step: each a small Step (train/evaluate + metrics).

The supervised step itself lives in engine/step.py, because `fit(model, ...)` builds it by default.
"""

from layerlab.tasks.ctc import CTCStep  # also registers the "ctc" predictor
from layerlab.tasks.detection import RegionTraining
from layerlab.tasks.detection_predict import predict_boxes  # registers the "detection" predictor
from layerlab.tasks.gan import GanStep, generate, real_and_noise  # also registers the "gan" predictor
from layerlab.tasks.generative import Reconstruction, VariationalAutoEncoding  # also registers their predictors
from layerlab.tasks.segmentation import class_metrics, predict_scores, segmentation_metrics  # also registers the "segmentation" predictor
from layerlab.tasks.sequence import TeacherForcing

__all__ = ["CTCStep", "GanStep", "Reconstruction", "RegionTraining", "predict_boxes", "TeacherForcing", "VariationalAutoEncoding", "class_metrics", "generate",
           "real_and_noise", "predict_scores", "segmentation_metrics"]
