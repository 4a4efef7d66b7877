"""The report's wording helpers, with the numbers that were worded wrongly before (issue 11)."""

from __future__ import annotations

from layerlab.labs.reporting import change_words, format_column, markdown_table, times_words


def test_a_larger_error_reads_as_worse_not_as_a_negative_lowering():
    # house-prices said "MLP RMSE 6.020 vs linear 4.862, -23.8% lower"; 6.020 / 4.862 = 1.238
    assert change_words(6.020, 4.862, higher_is_better=False) == "23.8% higher, so worse"
    assert change_words(4.0, 5.0, higher_is_better=False) == "20.0% lower, so better"
    assert change_words(0.9, 0.8, higher_is_better=True) == "12.5% higher, so better"
    assert change_words(4.8621, 4.862, higher_is_better=False) == "the same"


def test_a_ratio_near_one_is_about_as_many_not_one_times_fewer():
    # char-rnn said "1.0x fewer likely choices" when the model was no better than letter frequencies
    assert times_words(12.0, 27.0, "choices") == "2.2x fewer choices"
    assert times_words(27.0, 27.5, "choices") == "about as many choices"
    assert times_words(30.0, 20.0, "choices") == "1.5x more choices"


def test_a_column_keeps_the_digits_that_tell_its_numbers_apart():
    # stock-rnn's LSTM and GRU differ by $0.007: at 4 significant digits both read 12.35
    assert format_column([12.345, 12.352, 13.0]) == ["12.345", "12.352", "13"]
    assert format_column([0.97123, 0.5, "n/a"]) == ["0.9712", "0.5", "n/a"]
    assert format_column([0.5, None, 1]) == ["0.5", "—", "1"]       # no value is a dash, not "None"
    assert format_column([123456.7]) == ["123,457"]
    assert markdown_table([{"model": "lstm", "test_rmse": 12.345}, {"model": "gru", "test_rmse": 12.352}]) == [
        "| model | test_rmse |", "|---|---|", "| lstm | 12.345 |", "| gru | 12.352 |"]


def test_a_report_says_when_amp_ran_in_float32_because_the_cpu_has_no_bf16(monkeypatch):
    from dataclasses import dataclass
    from types import SimpleNamespace

    from layerlab.labs import reporting
    from layerlab.labs.base import LabResult

    @dataclass
    class Config:
        amp: bool
        lang: str = "en"
        quick: bool = False
        epochs: int = 1
        seed: int = 0
        device: str = "cpu"

    entry = SimpleNamespace(name="cifar-cnn", meta={"title": "A lab", "unit": "CNN"})
    result = LabResult(metrics={"test_accuracy": 0.5})

    def report(amp: bool, native: bool, lang: str = "en") -> list[str]:
        monkeypatch.setattr(reporting, "native_bf16", lambda device_type: native)
        return reporting.render_report(entry, Config(amp, lang), result, seconds=1.0, trained={"epochs": 1}).splitlines()

    said = "**Precision: float32**: `--amp` asks for bf16 autocast, but the device it trained on has no native bf16"
    assert report(amp=True, native=False)[5].startswith(said)
    assert not any(line.startswith("**Precision") for line in report(amp=True, native=True) + report(amp=False, native=False))
    assert report(amp=True, native=False, lang="ko")[5].startswith("**정밀도: float32**: `--amp`는 bf16 autocast를 요청하지만")
