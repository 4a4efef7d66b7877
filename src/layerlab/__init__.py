"""layerlab: a deep-learning course as software, on PyTorch.

The public API, in one place (everything else is reached by its module path):

    from layerlab import get_dataset, get_model, fit, evaluate
    train = get_dataset("digits", split="train")
    model = get_model("mlp", sizes=(64, 32, 10))
    history = fit(model, train, loss="cross_entropy", optimizer="adam", lr=1e-3, epochs=5)
"""

from layerlab.data import get_dataset, list_datasets
from layerlab.engine import Step, Supervised, evaluate, fit, predict, train_step
from layerlab.inspect import capture, summary
from layerlab.labs import list_labs, run_lab
from layerlab.models import get_model, list_models

__all__ = ["Step", "Supervised", "capture", "evaluate", "fit", "get_dataset", "get_model", "list_datasets", "list_labs", "list_models",
           "predict", "run_lab", "summary", "train_step"]
