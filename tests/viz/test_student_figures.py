"""Figures a student reads (issue 11), checked by their numbers on the matplotlib objects: axis
limits and scales, tick values, label text, title positions."""

from __future__ import annotations

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg

from layerlab.engine.loop import History
from layerlab.viz.curves import plot_history
from layerlab.viz.explain.overfitting import bias_variance_panel, overfitting_numbers
from layerlab.viz.images import show_predictions
from layerlab.viz.style import new_figure
from layerlab.viz.words import localize_figure


def drawn(fig):
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def test_epoch_ticks_are_whole_numbers_and_a_test_curve_is_called_test():
    rows = [{"epoch": e, "train_loss": 1 / e, "test_loss": 1.2 / e} for e in (1, 2, 3)]
    fig = plot_history(History(rows, higher_is_better={"loss": False}))
    drawn(fig)
    ax = fig.axes[0]
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)          # never 1.5, 2.5
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test", "best test (epoch 3)"]


def test_a_loss_logged_per_iteration_is_drawn_on_a_log_axis_over_iterations():
    rows = [{"iteration": t, "train_loss": 1e4 / t} for t in (1, 100, 200, 2000)]
    fig = plot_history(History(rows), "Sum of squared errors", x="iteration", log_loss=True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "iteration"
    assert [tuple(line.get_xdata()) for line in ax.get_lines()] == [(1, 100, 200, 2000)]


def test_the_bias_squared_curve_stays_on_its_log_axis():
    numbers = overfitting_numbers(seed=0)
    fig, axes = new_figure(1, 1)
    bias_variance_panel(axes[0, 0], numbers, "en")
    ax = axes[0, 0]
    assert ax.get_yscale() == "log"
    assert ax.get_ylim()[0] == min(min(numbers["bias2"]), min(numbers["variance"])) / 3
    assert ax.get_ylim()[0] < min(numbers["bias2"]) < 1e-4              # the old floor of 1e-4 hid it


def test_the_titles_of_the_second_row_of_mistakes_clear_the_images_above():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(16, 10, generator=g), dim=1)
    wrong = (probs.argmax(dim=1) + 1) % 10                               # every title has a second line
    fig = show_predictions(torch.zeros(16, 3, 32, 32, dtype=torch.uint8), probs, wrong,
                           ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"])
    renderer = drawn(fig)
    first_row_bottom = min(ax.get_window_extent(renderer).y0 for ax in fig.axes[:8])
    second_titles_top = max(ax.title.get_window_extent(renderer).y1 for ax in fig.axes[8:])
    assert (first_row_bottom - second_titles_top) / fig.dpi >= 0.2     # inches of gap (it was 0.08)


def test_a_korean_figure_has_korean_titles_and_labels():
    rows = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e} for e in (1, 2)]
    fig = localize_figure(plot_history(History(rows, higher_is_better={"loss": False})), "ko")
    ax = fig.axes[0]
    assert (fig.get_suptitle(), ax.get_title(), ax.get_xlabel()) == ("학습 곡선", "손실 (낮을수록 좋음)", "에포크")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["학습", "검증", "최고 검증 (에포크 2)"]


def test_viz_prints_its_lines_in_korean_with_lang_ko():
    from layerlab.viz.model_run import describe_run_view

    result = {"input": "cat.png", "notes": ["resized 40x40 to 32x32"], "top": [{"class": "cat", "probability": 0.9}],
              "filters": (6, 3, 5, 5), "first_conv": "features.0", "feature_maps": {"features.0": (6, 28, 28)},
              "figures": ["f.png"]}
    assert describe_run_view(result, "ko").splitlines() == [
        "입력: cat.png", "  참고: 크기 변경 40x40 -> 32x32", "예측: cat (0.900)   상위 1개:", "  cat                  0.9000",
        "첫 합성곱 층 features.0: 필터 6개, 크기 3x5x5", "특징 맵: features.0 6@28x28", "그림:", "  f.png"]
    assert describe_run_view(result).splitlines()[4] == "first conv layer features.0: 6 filters of 3x5x5"
