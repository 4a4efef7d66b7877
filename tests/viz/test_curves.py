"""The report figures (curves, confusion matrix, scatter, run comparison, image grid) leave the
user's matplotlib backend alone and are drawn without pyplot."""

from __future__ import annotations

import matplotlib
import pytest
import torch

from layerlab.viz.compare import plot_runs
from layerlab.viz.curves import plot_confusion, plot_history, plot_lines, plot_predicted_vs_true
from layerlab.viz.images import show_predictions

ROWS = [{"epoch": 1, "train_loss": 0.9, "val_loss": 1.0, "train_accuracy": 0.6, "val_accuracy": 0.55},
        {"epoch": 2, "train_loss": 0.5, "val_loss": 0.7, "train_accuracy": 0.8, "val_accuracy": 0.7}]


@pytest.fixture
def svg_backend():
    """A backend other than Agg, as a notebook's would be; tests/conftest.py's Agg comes back after."""
    before = matplotlib.get_backend()
    matplotlib.use("svg")
    yield
    matplotlib.use(before)


def _figures() -> dict[str, object]:
    probs = torch.tensor([[0.9, 0.1], [0.3, 0.7]])
    return {
        "history": plot_history(ROWS),
        "confusion": plot_confusion(torch.tensor([[3, 1], [0, 4]]), ["cat", "dog"]),
        "scatter": plot_predicted_vs_true(torch.tensor([1.0, 2.0]), torch.tensor([1.5, 2.0]), unit="$"),
        "lines": plot_lines(torch.linspace(0, 1, 5), {"y": torch.zeros(5)}, "flat"),
        "runs": plot_runs({"a": ROWS, "b": ROWS}),
        "grid": show_predictions(torch.zeros(2, 1, 4, 4), probs, torch.tensor([0, 0]), ["cat", "dog"], columns=2),
    }


def test_plotting_leaves_the_backend_and_pyplot_alone(svg_backend, tmp_path):
    import matplotlib.pyplot as plt

    figures = _figures()
    assert matplotlib.get_backend() == "svg"
    assert plt.get_fignums() == []                   # nothing left open in pyplot's list
    for name, fig in figures.items():                # and each still saves as a PNG, headless
        fig.savefig(tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_history_plots_loss_and_accuracy_per_epoch():
    fig = plot_history(ROWS)
    loss, accuracy = fig.axes
    assert (loss.get_title(), accuracy.get_title()) == ("loss", "accuracy")
    assert [list(line.get_ydata()) for line in loss.get_lines()] == [[0.9, 0.5], [1.0, 0.7]]
    assert [line.get_label() for line in accuracy.get_lines()] == ["train", "val"]


def test_history_stars_the_best_held_out_epoch_in_the_direction_the_metric_declares():
    from layerlab.engine.loop import History

    rows = [{"epoch": 1, "train_loss": 0.9, "val_loss": 0.6, "train_rmse": 3.0, "val_rmse": 2.0},
            {"epoch": 2, "train_loss": 0.5, "val_loss": 0.7, "train_rmse": 2.0, "val_rmse": 2.5},
            {"epoch": 3, "train_loss": 0.4, "val_loss": 0.8, "train_rmse": 1.0, "val_rmse": 1.5}]
    fig = plot_history(History(rows, higher_is_better={"loss": False, "rmse": False}))
    loss, rmse = fig.axes
    assert loss.get_title() == "loss (lower is better)" and rmse.get_title() == "rmse (lower is better)"
    stars = {ax.get_title(): [(line.get_xdata()[0], line.get_ydata()[0]) for line in ax.get_lines() if line.get_marker() == "*"]
             for ax in (loss, rmse)}
    assert stars == {"loss (lower is better)": [(1, 0.6)], "rmse (lower is better)": [(3, 1.5)]}
    fig = plot_history(History(rows, higher_is_better={"loss": False, "rmse": True}))   # declared the other way
    assert [(line.get_xdata()[0]) for line in fig.axes[1].get_lines() if line.get_marker() == "*"] == [2]


def test_confusion_matrix_writes_each_count_in_its_cell():
    fig = plot_confusion(torch.tensor([[3, 1], [0, 4]]), ["cat", "dog"])
    assert [t.get_text() for t in fig.axes[0].texts] == ["3", "1", "0", "4"]
