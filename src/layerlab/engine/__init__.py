"""The engine: steps (train_step, Supervised), the loop (fit, evaluate), losses, optimizers, metrics, run folders."""

from layerlab.engine.loop import History, evaluate, fit, predict
from layerlab.engine.losses import LOSSES, get_loss
from layerlab.engine.metrics import Metric, Metrics
from layerlab.engine.optim import OPTIMIZERS, SCHEDULES, get_optimizer
from layerlab.engine.run import RunDir, seed_everything, select_device
from layerlab.engine.step import Step, Supervised, train_step

__all__ = ["History", "LOSSES", "Metric", "Metrics", "OPTIMIZERS", "RunDir", "SCHEDULES", "Step", "Supervised", "evaluate",
           "fit", "get_loss", "get_optimizer", "predict", "seed_everything", "select_device", "train_step"]
