"""Problem types beyond the one-model supervised step: each a small Step (train/evaluate + metrics).

The supervised step itself lives in engine/step.py, because `fit(model, ...)` builds it by default.
"""

from layerlab.tasks.generative import Reconstruction, VariationalAutoEncoding  # also registers their predictors
from layerlab.tasks.segmentation import predict_scores, segmentation_metrics  # also registers the "segmentation" predictor
from layerlab.tasks.sequence import TeacherForcing

__all__ = ["Reconstruction", "TeacherForcing", "VariationalAutoEncoding", "predict_scores", "segmentation_metrics"]
