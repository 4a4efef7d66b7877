"""The engine: the loop (train_step, evaluate, fit), losses, optimizers, metrics, run folders."""

from layerlab.engine.loop import FitOptions, History, evaluate, fit, predict, train_step
from layerlab.engine.losses import LOSSES, get_loss
from layerlab.engine.optim import OPTIMIZERS, SCHEDULES, get_optimizer
from layerlab.engine.run import RunDir, seed_everything, select_device

__all__ = ["FitOptions", "History", "LOSSES", "OPTIMIZERS", "RunDir", "SCHEDULES", "evaluate", "fit",
           "get_loss", "get_optimizer", "predict", "seed_everything", "select_device", "train_step"]
