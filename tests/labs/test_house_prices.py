import csv
import json
from pathlib import Path

import pytest
import torch

from layerlab.data import TensorData, get_dataset
from layerlab.engine import RunDir
from layerlab.engine.deploy import evaluate_run, load_trained, predict_files
from layerlab.errors import LayerlabError
from layerlab.labs import run_lab
from layerlab.labs.house_prices import HousePricesConfig, house_prices, linear_predict


def test_linear_baseline_recovers_an_exact_plane():
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    y = (x @ torch.tensor([[2.0], [-1.0], [0.5]])) + 3.0
    predicted = linear_predict(TensorData(x, y), x)
    torch.testing.assert_close(predicted, y, atol=1e-4, rtol=0)


def test_boston_mlp_beats_linear_by_20_percent_in_5_fold_cv(shared_datasets, tmp_path):
    torch.manual_seed(0)
    cfg = HousePricesConfig(data_dir=str(shared_datasets / "boston-housing"), epochs=60, progress=False)
    result = house_prices(cfg, RunDir.create(tmp_path, "house-prices", {}))
    folds = result.tables["Per-fold scores"]
    assert len(folds) == 5 and sum(f["test_rows"] for f in folds) == 506      # every row validated once
    assert 4.0 < result.metrics["linear_rmse"] < 5.5                          # published ≈ 4.8
    assert result.metrics["mlp_rmse"] <= 0.8 * result.metrics["linear_rmse"]
    assert result.card is not None and result.card.target_mean == pytest.approx(22.5, abs=1.0)


def test_a_boston_run_saves_the_model_of_all_rows_and_eval_names_the_honest_figure(shared_datasets, tmp_path):
    data_dir = shared_datasets / "boston-housing"
    outcome = run_lab("house-prices", {"data_dir": str(data_dir), "quick": True, "progress": False}, out=tmp_path)
    run_dir = Path(outcome["run_dir"])
    model, card = load_trained(run_dir)                      # model.safetensors + model.json, no training
    every = get_dataset("boston-housing", split="all", root=data_dir)
    # the saved scaling is that of all 506 rows (published means: CRIM 3.6135, MEDV 22.5328), not of one fold
    assert card.mean[0] == pytest.approx(3.6135, abs=1e-4) and card.target_mean == pytest.approx(22.5328, abs=1e-4)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["normalisation"]["target_mean"] == card.target_mean
    assert config["data"]["source"] == card.data_source and Path(card.data_source).parent == data_dir
    with pytest.raises(LayerlabError) as info:
        evaluate_run(run_dir)
    assert str(info.value) == (f"{run_dir} was judged by 5-fold cross-validation: the honest figure is mlp_rmse = "
                               f"{outcome['mlp_rmse']:.3f} (result.json), and its saved model then learned from all "
                               "506 rows; `layerlab eval` has no unseen data to score it on, but `layerlab predict` works")
    # predict on three rows of a CSV: the saved model on (x - mean) / std, back in $1000s
    rows = tmp_path / "rows.csv"
    with rows.open("w", newline="") as f:
        csv.writer(f).writerows([card.feature_names] + every.inputs[:3].tolist())
    mean, std = torch.tensor(card.mean), torch.tensor(card.std)
    with torch.no_grad():
        expected = model((every.inputs[:3] - mean) / std).flatten() * card.target_std + card.target_mean
    predicted = [p["prediction"] for p in predict_files(run_dir, [str(rows)])]
    assert predicted == pytest.approx(expected.tolist(), abs=1e-3)
