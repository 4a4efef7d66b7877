"""The seq2seq-attention lab on a tiny pairs file the test writes, and (slow) on the real Tatoeba pairs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.image
import pytest

from layerlab.errors import LayerlabError
from layerlab.labs import run_lab

SUBJECTS = [("나는", "i"), ("너는", "you"), ("우리는", "we"), ("그들은", "they")]
OBJECTS = [("사과를", "apples"), ("책을", "books"), ("물을", "water"), ("빵을", "bread"), ("차를", "tea")]
VERBS = [("좋아해", "like"), ("원해", "want")]
CREDIT = "CC-BY 2.0 (France) Attribution: tatoeba.org #1 (test) & #2 (test)"


def write_pairs(folder: Path) -> Path:
    """40 English<TAB>Korean<TAB>attribution lines: "나는 사과를 좋아해." <-> "I like apples." """
    lines = [f"{s_en.capitalize()} {v_en} {o_en}.\t{s_ko} {o_ko} {v_ko}.\t{CREDIT}"
             for s_ko, s_en in SUBJECTS for o_ko, o_en in OBJECTS for v_ko, v_en in VERBS]
    (folder / "kor.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_quick_run_reports_both_models_and_draws_attention(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    data = write_pairs(tmp_path / "data")
    outcome = run_lab("seq2seq-attention", {"data_dir": str(data), "quick": True, "progress": False, "heatmaps": 2},
                      out=tmp_path / "runs")
    rows = [json.loads(line) for line in (Path(outcome["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    for model, stage in (("attention", "main"), ("no_attention", "no-attention")):
        logged = [row for row in rows if row["stage"] == stage]
        assert [row["epoch"] for row in logged] == [1]                           # quick: one epoch each
        assert outcome[f"{model}_test_loss"] == pytest.approx(logged[-1]["test_loss"])   # held-out, named test
        assert "val_loss" not in logged[-1]
        # one quick epoch on 40 pairs: the loss is still near ln(vocabulary), far from memorised
        assert outcome[f"{model}_test_loss"] == pytest.approx(math.log(len(OBJECTS) + len(SUBJECTS) + 2 + 5), abs=0.6)
    assert outcome["attention_parameters"] > outcome["no_attention_parameters"]   # + W_q, W_k, v and a wider GRU input
    run = Path(outcome["run_dir"])
    report = (run / "report.md").read_text(encoding="utf-8")
    assert "| attention |" in report and "| no attention |" in report and "## Example translations" in report
    for name in ("attention_1", "attention_2", "curves"):
        image = matplotlib.image.imread(run / "figures" / f"{name}.png")   # a real, decodable PNG
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    from layerlab.engine.deploy import evaluate_run, predict_files

    scored = evaluate_run(run)                        # the saved attention model, rebuilt from its card
    assert scored[next(k for k in scored if k.endswith("bleu4"))] == pytest.approx(outcome["attention_bleu4"], abs=1e-9)
    (tmp_path / "ko.txt").write_text("나는 사과를 좋아해.\n", encoding="utf-8")
    translated = predict_files(run, [str(tmp_path / "ko.txt")])[0]
    assert translated["source"] == "나는 사과를 좋아해." and translated["unknown"] == []
    records = json.loads((run / "attention.json").read_text(encoding="utf-8"))
    assert len(records) == 2
    for record in records:
        assert record["source"][-1] == "<eos>" and record["source"][0] in {s for s, _ in SUBJECTS}
        assert len(record["weights"]) == len(record["output"])
        for row in record["weights"]:                      # one weight per real source token, summing to 1
            assert len(row) == len(record["source"])
            assert abs(sum(row) - 1.0) < 1e-5 and min(row) >= 0.0


def test_reverse_translates_english_to_korean_with_beam_search(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    data = write_pairs(tmp_path / "data")
    outcome = run_lab("seq2seq-attention", {"data_dir": str(data), "quick": True, "progress": False, "reverse": True,
                                            "compare": False, "heatmaps": 1, "beam": 3}, out=tmp_path / "runs")
    assert "no_attention_bleu4" not in outcome
    record = json.loads((Path(outcome["run_dir"]) / "attention.json").read_text(encoding="utf-8"))[0]
    assert record["source"][0] in {e for _, e in SUBJECTS}    # English source words
    assert any("\uac00" <= ch <= "\ud7a3" for word in record["reference"] for ch in word)   # Hangul reference
    assert "beam search of width 3" in (Path(outcome["run_dir"]) / "report.md").read_text(encoding="utf-8")


def test_a_length_filter_that_keeps_nothing_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    data = write_pairs(tmp_path / "data")
    with pytest.raises(LayerlabError, match="raise --max-tokens"):
        run_lab("seq2seq-attention", {"data_dir": str(data), "quick": True, "max_tokens": 2}, out=tmp_path / "runs")


@pytest.mark.slow
def test_both_models_translate_the_real_pairs(shared_datasets: Path, tmp_path: Path) -> None:
    # measured (seed 0): BLEU-4 0.149 with attention, 0.146 without; BLEU-1 0.44 both; held-out loss
    # 3.55 vs 3.64 (attention lower in all three settings tried). BLEU's ordering is within noise at
    # this size, so only the loss ordering and a floor under BLEU are asserted.
    outcome = run_lab("seq2seq-attention", {"data_dir": str(shared_datasets / "kor-eng"), "progress": False},
                      out=tmp_path / "runs")
    for model in ("attention", "no_attention"):
        assert outcome[f"{model}_bleu1"] >= 0.38 and outcome[f"{model}_bleu4"] >= 0.10
    assert outcome["attention_test_loss"] < outcome["no_attention_test_loss"]
