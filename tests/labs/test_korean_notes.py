"""A run with --lang ko has Korean "What to notice" notes holding the English notes' numbers."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from layerlab.labs import run_lab
from layerlab.labs.base import Note
from layerlab.labs.cifar_cnn import _notes as cifar_notes
from layerlab.labs.house_prices import _notes as house_notes
from layerlab.labs.reporting import accuracy_note, change_words, note_text, times_words
from layerlab.labs.stock_rnn import StockRnnConfig
from layerlab.labs.stock_rnn import _notes as stock_notes

HANGUL = re.compile("[\uac00-\ud7a3]")
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")     # "1,294" is one number; signs are left out


def notes_of(report: str) -> list[str]:
    """The bullet lines of the report's second section ("What to notice" / "눈여겨볼 점")."""
    section = report.split("\n## ")[2]
    return [line for line in section.splitlines() if line.startswith("- ")]


def assert_same_numbers_in_korean(english: list[str], korean: list[str]) -> None:
    assert len(korean) == len(english)
    for en, ko in zip(english, korean):
        assert HANGUL.search(ko) and not HANGUL.search(en), (en, ko)
        assert sorted(NUMBER.findall(ko)) == sorted(NUMBER.findall(en)), (en, ko)


def test_a_korean_run_of_cubic_sin_has_korean_notes_with_the_same_numbers(tmp_path):
    reports = {}
    for lang in ("en", "ko"):
        torch.manual_seed(0)   # the random starting cubic: the same in both runs
        outcome = run_lab("cubic-sin", {"iterations": 100, "lang": lang}, out=tmp_path / lang)
        reports[lang] = (Path(outcome["run_dir"]) / "report.md").read_text()
    english, korean = notes_of(reports["en"]), notes_of(reports["ko"])
    assert english[1].startswith("- Largest gap to the least-squares cubic: ")
    assert korean[1].startswith("- 최소제곱 삼차 함수와의 가장 큰 계수 차이: ")
    assert_same_numbers_in_korean(english, korean)
    assert korean[0].removeprefix("- 결과: ") == english[0].removeprefix("- Result: ")   # the fitted cubic itself


def test_a_note_is_shown_in_the_runs_language_and_a_plain_string_as_it_is():
    note = Note("Test accuracy 0.9712.", "테스트 정확도 0.9712.")
    assert note_text(note, "en") == "Test accuracy 0.9712." and note_text(note, "ko") == "테스트 정확도 0.9712."
    assert note_text("English only", "ko") == "English only"


def test_change_words_in_korean_say_the_same_verdict():
    assert change_words(6.020, 4.862, higher_is_better=False, lang="ko") == "23.8% 높아 더 나쁨"
    assert change_words(4.0, 5.0, higher_is_better=False, lang="ko") == "20.0% 낮아 더 좋음"
    assert change_words(4.8621, 4.862, higher_is_better=False, lang="ko") == "차이 없음"


def test_times_words_in_korean():
    assert times_words(12.0, 27.0, "선택지", "ko") == "선택지 2.2배 적음"
    assert times_words(27.0, 27.5, "선택지", "ko") == "선택지 비슷함"
    assert times_words(30.0, 20.0, "선택지", "ko") == "선택지 1.5배 많음"


def _both(notes: list[Note]) -> tuple[list[str], list[str]]:
    return [n.en for n in notes], [n.ko for n in notes]


def test_the_accuracy_note_of_the_classification_labs():
    note = accuracy_note(0.97123, 10_000)
    assert note.en == "Test accuracy 0.9712 on 10,000 images never seen in training."
    assert_same_numbers_in_korean([note.en], [note.ko])


@pytest.mark.parametrize("folds", [0, 5])
def test_house_prices_notes(folds):
    metrics = {"mlp_rmse": 6.020, "linear_rmse": 4.862}
    english, korean = _both(house_notes(metrics, "($1000s)", folds=folds, rows=506))
    assert english[0].endswith("MLP RMSE 6.020 vs linear 4.862 ($1000s): 23.8% higher, so worse than linear regression.")
    assert "선형 회귀 대비 23.8% 높아 더 나쁨." in korean[0]
    assert_same_numbers_in_korean(english, korean)


def test_stock_rnn_notes_for_a_win_a_loss_and_a_tie():
    rows = [{"model": "rnn", "test_rmse": 12.345, "test_mae": 9.1, "rmse_vs_persistence_pct": -3.21},
            {"model": "lstm", "test_rmse": 13.0, "test_mae": 9.9, "rmse_vs_persistence_pct": 2.5},
            {"model": "gru", "test_rmse": 12.7, "test_mae": 9.5, "rmse_vs_persistence_pct": 0.4},
            {"model": "persistence", "test_rmse": 12.75, "test_mae": 9.45}]
    for target in ("change", "level"):
        english, korean = _both(stock_notes(rows, StockRnnConfig(target=target), "rnn", "2021-01-04 .. 2021-12-30"))
        assert english[1] == "RNN: $12.35 RMSE, $9.10 MAE: beats persistence (-3.21% RMSE)."
        assert korean[1] == "RNN: RMSE $12.35, MAE $9.10: 어제 값 그대로 예측보다 나음 (RMSE -3.21%)."
        assert_same_numbers_in_korean(english, korean)
    rows[0]["rmse_vs_persistence_pct"] = 0.0     # no model wins: the note that says this is the lesson
    english, korean = _both(stock_notes(rows, StockRnnConfig(), "gru", "2021-01-04 .. 2021-12-30"))
    assert any(e.startswith("No model beats persistence") for e in english)
    assert_same_numbers_in_korean(english, korean)


def test_cifar_cnn_notes():
    table = SimpleNamespace(total_params=9_457_962, total_macs=123_456_789)
    english, korean = _both(cifar_notes((0.4914, 0.4822, 0.4465), (0.247, 0.2435, 0.2616), table, 0.8123, 10_000))
    assert english[1] == "9,457,962 parameters and 123.5M multiply-accumulates per image (per layer in summary.txt)."
    assert_same_numbers_in_korean(english, korean)
