import math

import pytest
import torch

from layerlab.data import get_dataset
from layerlab.engine import RunDir
from layerlab.engine.deploy import evaluate_run, predict_files
from layerlab.errors import LayerlabError
from layerlab.labs import run_lab
from layerlab.labs.cubic_sin import CubicSinConfig, cubic, cubic_sin, descend, least_squares_cubic, manual_gradients, squared_error


def test_manual_cubic_gradients_match_autograd():
    x = torch.linspace(-math.pi, math.pi, 200, dtype=torch.float64)
    coeffs = torch.randn(4, dtype=torch.float64, requires_grad=True)
    squared_error(cubic(x, coeffs), torch.sin(x)).backward()
    torch.testing.assert_close(manual_gradients(x, coeffs.detach(), torch.sin(x)), coeffs.grad)


def test_the_course_settings_close_in_on_the_least_squares_cubic():
    data = get_dataset("sine", split="all")
    x, y = data.inputs.flatten(), data.targets.flatten()
    best = least_squares_cubic(x, y)
    assert abs(best[1] - 0.8567) < 1e-3 and abs(best[3] + 0.0933) < 1e-3 and abs(best[0]) < 1e-9
    for seed in range(6):
        torch.manual_seed(seed)
        start = torch.randn(4, dtype=torch.float64)
        final, _ = descend(x, y, start, CubicSinConfig())
        # lr 1e-6 for 2,000 steps shrinks the slowest error direction by about e^-3.4 = 0.034
        assert (final - best).abs().max() <= 0.05 * (start - best).abs().max().clamp(min=1.0)


def test_the_lab_fits_within_0_05_from_a_typical_start(tmp_path):
    for method in ("manual", "autograd", "optim"):
        torch.manual_seed(1)
        result = cubic_sin(CubicSinConfig(method=method), RunDir.create(tmp_path, "cubic-sin", {}))
        assert result.metrics["max_coefficient_gap"] < 0.05, method
        assert result.metrics["loss"] < 15.0
        assert all(p.is_file() for p in result.figures)


def test_the_fitted_cubic_is_saved_and_predicts_a_csv_of_x(tmp_path):
    torch.manual_seed(1)
    outcome = run_lab("cubic-sin", {"iterations": 100}, out=tmp_path)
    a, b, c, d = (outcome[name] for name in "abcd")
    (tmp_path / "points.csv").write_text("x\n0\n1\n-2\n")
    predicted = [r["prediction"] for r in predict_files(outcome["run_dir"], [str(tmp_path / "points.csv")])]
    assert predicted == pytest.approx([a, a + b + c + d, a - 2 * b + 4 * c - 8 * d], abs=1e-4)
    with pytest.raises(LayerlabError, match=r"was fitted to all 2,000 points of sin\(x\) on \[-π, π\], none held out: "
                                            "its figures are loss and max_coefficient_gap"):
        evaluate_run(outcome["run_dir"])


@pytest.mark.parametrize("method", ["manual", "optim"])
def test_cubic_sin_reports_iterations_not_log_records_as_epochs(tmp_path, method):
    outcome = run_lab("cubic-sin", {"iterations": 300, "method": method, "lang": "ko"}, out=tmp_path)
    assert outcome["iterations"] == 300 and "epochs" not in outcome
    run = RunDir.open(outcome["run_dir"])
    assert run.config["trained"] == {"iterations": 300}
    report = (run.path / "report.md").read_text()
    assert "학습 300 반복." in report.splitlines()       # "Trained 300 iterations." in the run's language
    headings = [line for line in report.splitlines() if line.startswith("#")]
    assert headings == ["# 직접 쓴 기울기로 sin(x)에 3차 함수 맞추기", "## 결과", "## 눈여겨볼 점", "## 학습 기록", "## 그림", "## 설정"]
    assert "| 지표 | 값 |" in report
    assert "| iteration | train_loss |" in report       # rows at iterations 1, 100, 200, 300
    assert report.count("\n| 1 |") + report.count("\n| 100 |") + report.count("\n| 300 |") == 3


def test_the_fit_plot_keeps_its_y_axis_on_the_data():
    from layerlab.viz.curves import plot_lines

    x = torch.linspace(-math.pi, math.pi, 50)
    fig = plot_lines(x, {"sin(x)": torch.sin(x), "random initial cubic": 3 * x**3}, "fit", ylim=(-1.5, 1.5))
    assert fig.axes[0].get_ylim() == (-1.5, 1.5)
