"""Lab: Netflix's next closing price from the last 30 days. Course unit: RNN (5주차), 넷플릭스 주가 예측.

Goal: the course's exercise (days 1-30 -> day 31, days 2-31 -> day 32, ...) with an RNN, an LSTM
and a GRU, each followed by an MLP head, judged in DOLLARS on the last 15% of the days against
the naive forecast every trader knows: persistence, "tomorrow's close = today's close".
What to notice: persistence is very hard to beat. A daily price is close to a random walk, so a
model that truly helps must predict the day's *change*, which is mostly noise. By default the
models predict the change from today (models/forecast.py); `--target level` is the first attempt
the course makes, which extrapolates badly once the test prices leave the training range.
Honest rules: chronological 70/15/15 split, the scaler fitted on training rows only (it travels
with the run in model.json), the best epoch chosen on validation (early stopping), test seen once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from layerlab.data import TensorData, get_dataset
from layerlab.data.scalers import scaler_from_state
from layerlab.engine import History, RunDir, fit, predict
from layerlab.engine.card import ModelCard
from layerlab.engine.checkpoint import save_weights
from layerlab.errors import LayerlabError
from layerlab.inspect import summary
from layerlab.labs.base import LabConfig, LabResult, Note, option, register_lab
from layerlab.models import get_model
from layerlab.viz.curves import plot_history, plot_lines

CELLS = ("rnn", "lstm", "gru")
TIE_PCT = 1.0   # within ±1% of persistence's RMSE counts as a tie: smaller gaps are noise


@dataclass(frozen=True)
class StockRnnConfig(LabConfig):
    cell: str = option("all", "rnn | lstm | gru | all (train the three and compare)", choices=("rnn", "lstm", "gru", "all"))
    target: str = option("change", "change: today + predicted change | level: the price itself", choices=("change", "level"))
    window: int = option(30, "days of history per prediction")
    hidden_size: int = option(64, "hidden units of the recurrent cell")
    epochs: int = option(100, "an upper bound: early stopping usually ends sooner")
    patience: int = option(15, "epochs without a better validation loss before stopping")
    batch_size: int = 32
    lr: float = option(1e-3, "AdamW learning rate")
    weight_decay: float = option(0.01, "AdamW's customary decoupled decay, stated so the run's config records it")


def dollar_errors(predicted: Tensor, true: Tensor) -> dict[str, float]:
    diff = predicted.double().flatten() - true.double().flatten()
    return {"rmse": diff.pow(2).mean().sqrt().item(), "mae": diff.abs().mean().item()}


def to_dollars(scaled: Tensor, data: TensorData) -> Tensor:
    """Undo the training-set scaler on the target column: scaled values -> dollars, (N,)."""
    scaler = scaler_from_state(data.meta["scaler"])
    return scaler.inverse_transform(scaled.double().reshape(-1, 1), data.meta["target_column"]).flatten()


def persistence(data: TensorData) -> Tensor:
    """Tomorrow = today: the last close in each window, in dollars (N,)."""
    return to_dollars(data.inputs[:, -1, data.meta["target_column"]], data)


def train_cell(cell: str, splits: dict[str, TensorData], cfg: StockRnnConfig, run: RunDir) -> tuple[torch.nn.Module, History]:
    torch.manual_seed(cfg.seed)                     # each cell starts from its own repeatable weights
    model = get_model("next-day", cell=cell, hidden_size=cfg.hidden_size, change=cfg.target == "change")
    history = fit(model, splits["train"], val=splits["val"], loss="mse", optimizer="adamw", lr=cfg.lr,
                  weight_decay=cfg.weight_decay, epochs=2 if cfg.quick else cfg.epochs, batch_size=cfg.batch_size,
                  patience=cfg.patience, device=cfg.device, seed=cfg.seed, progress=cfg.progress, run=run, stage=cell)
    return model.cpu().eval(), history


def check(cfg: StockRnnConfig) -> tuple[str, ...]:
    if cfg.target not in ("change", "level"):
        raise LayerlabError(f"--target must be change or level; got {cfg.target!r}")
    if cfg.cell not in (*CELLS, "all"):
        raise LayerlabError(f"--cell must be rnn, lstm, gru or all; got {cfg.cell!r}")
    return CELLS if cfg.cell == "all" else (cfg.cell,)


@register_lab("stock-rnn", config=StockRnnConfig, title="Netflix stock: RNN, LSTM and GRU against persistence",
              unit="5주차 RNN: 넷플릭스 주가 예측 (30일 → 다음 날 종가)",
              metric="test_rmse", higher_is_better=False)
def stock_rnn(cfg: StockRnnConfig, run: RunDir) -> LabResult:
    cells = check(cfg)
    # 1. Data: scaled 30-day windows; the scaler saw the training rows only
    splits = {s: get_dataset("nflx-stock", split=s, root=cfg.data_dir, window=cfg.window) for s in ("train", "val", "test")}
    test, val = splits["test"], splits["val"]
    true, naive = to_dollars(test.targets, test), persistence(test)
    # 2-3. One model per cell, trained on the same windows
    base = dollar_errors(naive, true)
    rows, curves, models, histories = [], {"actual": true, "persistence": naive}, {}, {}
    for cell in cells:
        model, histories[cell] = train_cell(cell, splits, cfg, run)
        pred = to_dollars(predict(model, test)[0], test)
        val_err = dollar_errors(to_dollars(predict(model, val)[0], val), to_dollars(val.targets, val))
        err = dollar_errors(pred, true)
        rows.append({"model": cell, "test_rmse": err["rmse"], "test_mae": err["mae"], "val_rmse": val_err["rmse"],
                     "epochs": len(histories[cell]), "rmse_vs_persistence_pct": 100 * (err["rmse"] / base["rmse"] - 1)})
        curves[cell], models[cell] = pred, model
    rows.append({"model": "persistence", "test_rmse": base["rmse"], "test_mae": base["mae"],
                 "val_rmse": dollar_errors(persistence(val), to_dollars(val.targets, val))["rmse"], "epochs": 0,
                 "rmse_vs_persistence_pct": 0.0})
    # 4. Report: dollars side by side; the run keeps the model that did best on *validation*
    metrics = {f"{r['model']}_{k}": r[k] for r in rows for k in ("test_rmse", "test_mae")}
    best = min(cells, key=lambda c: next(r["val_rmse"] for r in rows if r["model"] == c))
    metrics["test_rmse"] = metrics[f"{best}_test_rmse"]          # the kept model's: `layerlab runs` shows it
    save_weights(models[best], run.weights_path())
    card = _card(best, cfg, test)
    days = torch.arange(len(true))
    period = f"{test.meta['dates'][0]} .. {test.meta['dates'][-1]}"
    figures = [run.save_figure(plot_lines(days, curves, f"NFLX close, test period {period}", "test day", "close ($)"),
                               "test_period"),
               run.save_figure(plot_lines(days[-30:], {k: v[-30:] for k, v in curves.items()},
                                          "The last 30 test days, up close", "test day", "close ($)"), "last_30_days"),
               run.save_figure(plot_history(histories[best], f"MSE on scaled prices ({best})"), "curves")]
    return LabResult(metrics=metrics, history=histories[best], summary=summary(models[best], (cfg.window, 1)),
                     card=card, notes=_notes(rows, cfg, best, period), tables={"Test errors in dollars": rows},
                     figures=figures)


def _card(best: str, cfg: StockRnnConfig, test: TensorData) -> ModelCard:
    """What `layerlab predict` needs: CSV rows day_1..day_W in dollars are scaled with the training
    min/max (mean=min, std=max-min in the card's terms) and the output is scaled back to dollars."""
    scaler = test.meta["scaler"]
    low, span = scaler["min"][0], scaler["max"][0] - scaler["min"][0]
    return ModelCard(model="next-day",
                     overrides={"cell": best, "hidden_size": cfg.hidden_size, "change": cfg.target == "change"},
                     input_shape=(cfg.window,), task="regression", loss="mse", mean=(low,) * cfg.window,
                     std=(span,) * cfg.window, feature_names=tuple(f"day_{i}" for i in range(1, cfg.window + 1)),
                     target_mean=low, target_std=span, extra={"scaler": scaler, "test_dates": test.meta["dates"]})


def _notes(rows: list[dict], cfg: StockRnnConfig, best: str, period: str) -> list[Note]:
    rmse, mae = f"${rows[-1]['test_rmse']:.2f}", f"${rows[-1]['test_mae']:.2f}"
    notes = [Note(f"Test period {period}: persistence (tomorrow = today) misses by {rmse} RMSE, {mae} MAE.",
                  f"테스트 기간 {period}: 어제 값 그대로(내일 = 오늘) 예측의 오차는 RMSE {rmse}, MAE {mae}.")]
    for r in rows[:-1]:
        pct, name = f"{r['rmse_vs_persistence_pct']:+.2f}", r["model"].upper()
        rmse, mae = f"${r['test_rmse']:.2f}", f"${r['test_mae']:.2f}"
        verdict = (("beats", "보다 나음") if r["rmse_vs_persistence_pct"] < -TIE_PCT else ("LOSES TO", "보다 못함")
                   if r["rmse_vs_persistence_pct"] > TIE_PCT else (f"ties with (within {TIE_PCT:g}%)", f"과 비김 ({TIE_PCT:g}% 이내)"))
        notes.append(Note(f"{name}: {rmse} RMSE, {mae} MAE: {verdict[0]} persistence ({pct}% RMSE).",
                          f"{name}: RMSE {rmse}, MAE {mae}: 어제 값 그대로 예측{verdict[1]} (RMSE {pct}%)."))
    if not any(r["rmse_vs_persistence_pct"] < -TIE_PCT for r in rows[:-1]):
        notes.append(Note("No model beats persistence by more than noise: the day's change is mostly unpredictable from "
                          "30 past closes, so the best a model learns is 'about no change'. That is the lesson, not a "
                          "bug: always compare a forecast with the naive one.",
                          "어떤 모델도 잡음 이상으로 어제 값 그대로 예측을 이기지 못합니다: 하루의 변화는 지난 30일 종가로 "
                          "거의 예측할 수 없어서, 모델이 배울 수 있는 최선은 '거의 변화 없음'입니다. 버그가 아니라 이것이 "
                          "교훈입니다: 예측은 언제나 가장 단순한 예측과 비교하세요."))
    what = ("the change from today", "오늘 대비 변화량을") if cfg.target == "change" else ("the level", "가격 자체를")
    notes.append(Note(f"Models predict {what[0]}; the scaler was fitted on training days only; `layerlab predict` uses "
                      f"the {best.upper()} (best validation RMSE) on CSV rows day_1..day_{cfg.window} (dollars, oldest first).",
                      f"모델은 {what[1]} 예측합니다; 스케일러는 학습 기간의 날만으로 맞췄습니다; `layerlab predict`는 검증 "
                      f"RMSE가 가장 좋은 {best.upper()} 모델을 CSV 행 day_1..day_{cfg.window} (달러, 오래된 날부터)에 씁니다."))
    return notes
