import pytest
import torch

from layerlab.data import TensorData
from layerlab.engine import RunDir
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
