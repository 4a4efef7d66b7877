"""The sequence labs: stock-rnn (dollars, persistence, no leak from the test period) and char-rnn."""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

import pytest
import torch

from layerlab.engine.card import ModelCard
from layerlab.engine.deploy import evaluate_run, predict_files
from layerlab.errors import LayerlabError
from layerlab.labs import run_lab

ROWS, WINDOW = 160, 5
TEST_START = 136   # chronological 70/15/15 of 160 rows: train 0..111, val 112..135, test 136..159


def write_prices(path: Path, closes: list[float]) -> Path:
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"])
        for i, close in enumerate(closes):
            day = f"2020-{1 + i // 28:02d}-{1 + i % 28:02d}"
            out.writerow([day, close, close + 1, close - 1, close, close, 1000 + i])
    return path


def random_walk(seed: int = 0) -> list[float]:
    steps = torch.randn(ROWS, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2.0
    return (100.0 + steps.cumsum(0)).tolist()


def run_stock(folder: Path, closes: list[float], out: Path, **extra) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    write_prices(folder / "NFLX.csv", closes)
    overrides = {"data_dir": str(folder), "quick": True, "progress": False, "window": WINDOW, "hidden_size": 8, **extra}
    return run_lab("stock-rnn", overrides, out=out)


def rmse(errors: list[float]) -> float:
    return math.sqrt(sum(e * e for e in errors) / len(errors))


def test_stock_rnn_reports_every_cell_and_persistence_in_dollars(tmp_path):
    closes = random_walk()
    outcome = run_stock(tmp_path / "data", closes, tmp_path / "runs")
    # persistence, computed here from the CSV alone: tomorrow's close minus today's, over the test days
    moves = [closes[t] - closes[t - 1] for t in range(TEST_START, ROWS)]
    assert outcome["persistence_test_rmse"] == pytest.approx(rmse(moves), rel=1e-4)
    assert outcome["persistence_test_mae"] == pytest.approx(sum(map(abs, moves)) / len(moves), rel=1e-4)
    rows = {r["model"]: r for r in outcome["tables"]["Test errors in dollars"]}
    assert set(rows) == {"rnn", "lstm", "gru", "persistence"}
    for cell in ("rnn", "lstm", "gru"):
        assert outcome[f"{cell}_test_rmse"] == pytest.approx(rows[cell]["test_rmse"], rel=1e-5)
        assert 0 < outcome[f"{cell}_test_mae"] <= outcome[f"{cell}_test_rmse"]
    # the saved model, fed raw dollars through `layerlab predict`, gives the reported dollars back
    run_dir = Path(outcome["run_dir"])
    card = ModelCard.load(run_dir / "model.json")
    best = card.overrides["cell"]
    assert best == min(("rnn", "lstm", "gru"), key=lambda c: rows[c]["val_rmse"])   # chosen on validation
    rows_csv = tmp_path / "windows.csv"
    with rows_csv.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow([f"day_{i}" for i in range(1, WINDOW + 1)])
        out.writerows(closes[t - WINDOW : t] for t in range(TEST_START, ROWS))
    predicted = [p["prediction"] for p in predict_files(run_dir, [str(rows_csv)])]
    errors = [p - closes[t] for p, t in zip(predicted, range(TEST_START, ROWS))]
    assert rmse(errors) == pytest.approx(rows[best]["test_rmse"], rel=1e-3)
    assert {p.name for p in (run_dir / "figures").iterdir()} >= {"test_period.png", "last_30_days.png"}
    assert "persistence" in (run_dir / "report.md").read_text()
    with pytest.raises(LayerlabError, match="tested inside its lab.*layerlab predict"):
        evaluate_run(run_dir)                  # one clear line, not "unknown dataset ''"


def test_stock_rnn_test_period_prices_change_neither_scaler_nor_training(tmp_path):
    closes = random_walk(1)
    wild = closes[:TEST_START] + [c * 10 for c in closes[TEST_START:]]       # a crash-and-boom test period
    first = run_stock(tmp_path / "a", closes, tmp_path / "runs", cell="gru")
    second = run_stock(tmp_path / "b", wild, tmp_path / "runs", cell="gru")
    card_a = ModelCard.load(Path(first["run_dir"]) / "model.json")
    card_b = ModelCard.load(Path(second["run_dir"]) / "model.json")
    assert card_a.extra["scaler"] == card_b.extra["scaler"]
    assert card_a.extra["scaler"]["max"][0] == pytest.approx(max(closes[:112]))   # training rows only
    rows_a, rows_b = first["tables"]["Test errors in dollars"], second["tables"]["Test errors in dollars"]
    assert rows_a[0]["val_rmse"] == rows_b[0]["val_rmse"]                        # identical training
    assert rows_a[0]["test_rmse"] != rows_b[0]["test_rmse"]


def test_stock_rnn_rejects_an_unknown_cell(tmp_path):
    from layerlab.errors import LayerlabError

    with pytest.raises(LayerlabError, match="--cell must be rnn, lstm, gru or all"):
        run_stock(tmp_path / "data", random_walk(), tmp_path / "runs", cell="transformer")


def test_char_rnn_quick_run_reports_perplexity_unigram_and_a_sample(tmp_path):
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n" * 60
    (tmp_path / "input.txt").write_text(text)
    outcome = run_lab("char-rnn", {"data_dir": str(tmp_path), "quick": True, "progress": False, "seq_len": 32,
                                   "batch_size": 16, "hidden_size": 64, "num_layers": 1, "lr": 1e-2,
                                   "amp": False, "sample_chars": 80, "prompt": "All:"}, out=tmp_path / "runs")
    train_text = text[: int(len(text) * 0.9)]
    counts = Counter(train_text)
    val_text = text[int(len(text) * 0.9) :]
    unigram = -sum(math.log(counts[ch] / len(train_text)) for ch in val_text) / len(val_text)
    assert outcome["unigram_loss"] == pytest.approx(unigram, rel=1e-6)
    assert outcome["val_perplexity"] == pytest.approx(math.exp(outcome["val_loss"]), rel=1e-4)
    assert outcome["val_perplexity"] < 0.5 * outcome["unigram_perplexity"]    # 20 steps on repetitive text
    sample = (Path(outcome["run_dir"]) / "sample.txt").read_text()
    assert sample.startswith("All:") and len(sample) == len("All:") + 80 + 1
    assert sample.splitlines()[1] in (Path(outcome["run_dir"]) / "report.md").read_text()
    # the run folder is complete: predict continues a prompt with the saved weights, eval rescoring the text
    from layerlab.engine.deploy import evaluate_run, predict_files

    (tmp_path / "prompt.txt").write_text("All:")
    continued = predict_files(outcome["run_dir"], [str(tmp_path / "prompt.txt")])[0]
    assert continued["prompt"] == "All:" and len(continued["continuation"]) == 200
    assert set(continued["continuation"]) <= set(train_text)
    assert evaluate_run(outcome["run_dir"])["val_perplexity"] < 0.5 * outcome["unigram_perplexity"]


@pytest.mark.slow
def test_stock_rnn_on_nflx_reports_all_cells_against_persistence(shared_datasets, tmp_path):
    outcome = run_lab("stock-rnn", {"data_dir": str(shared_datasets / "nflx-stock"), "progress": False}, out=tmp_path)
    with (shared_datasets / "nflx-stock" / "NFLX.csv").open() as f:
        closes = [float(row["Close"]) for row in csv.DictReader(f)]
    start = round(len(closes) * 0.85)
    moves = [closes[t] - closes[t - 1] for t in range(start, len(closes))]
    assert outcome["persistence_test_rmse"] == pytest.approx(rmse(moves), rel=1e-4)
    for cell in ("rnn", "lstm", "gru"):   # predicting the change: no worse than persistence by more than 5%
        assert outcome[f"{cell}_test_rmse"] < 1.05 * outcome["persistence_test_rmse"]


@pytest.mark.slow
def test_char_rnn_on_tiny_shakespeare_beats_unigram_by_far(shared_datasets, tmp_path):
    outcome = run_lab("char-rnn", {"data_dir": str(shared_datasets / "tiny-shakespeare"), "progress": False}, out=tmp_path)
    assert outcome["unigram_perplexity"] == pytest.approx(27.5, abs=1.5)
    assert outcome["val_perplexity"] < 6.0 < outcome["unigram_perplexity"] / 4
