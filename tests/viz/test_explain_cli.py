"""`layerlab explain ...` as a user types it: text, --json, and one-line errors with status 2."""

from __future__ import annotations

import json

import pytest

from layerlab.viz.explain import explain, list_topics
from layerlab.viz.explain.cli import main


def test_no_topic_lists_every_topic_with_a_description(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for topic in ("conv", "conv-size", "padding", "pool", "activation", "softmax", "lr", "tensor", "overfitting"):
        assert f"\n  {topic} " in out


def test_text_output_ends_with_the_figure_path(capsys, tmp_path):
    out_file = tmp_path / "size.png"
    assert main(["conv-size", "7", "3", "2", "--out", str(out_file)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "(7 - 3 + 2*0)/2 + 1 = 3" in lines[1]
    assert lines[-1] == f"figure: {out_file}"
    assert out_file.is_file()


def test_default_figure_goes_to_runs_explain_and_a_folder_can_be_chosen(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["softmax", "--lang", "ko"]) == 0
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png")) == ["runs/explain/softmax.png"]
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "그림: runs/explain/softmax.png"   # --lang ko, in the terminal too
    assert main(["tensor", "--out", "pictures"]) == 0
    assert (tmp_path / "pictures" / "tensor.png").is_file()
    assert capsys.readouterr().out.splitlines()[-1] == "figure: pictures/tensor.png"
    assert main(["softmax", "--lang", "ko"]) == 0
    out = capsys.readouterr().out
    # the working is Korean too (it was English under --lang ko before issue 11)
    assert "argmax = 클래스 1 (0부터 셈)" in out
    assert "강의 노트 000은 [0.15, 0.3, 0.2, 0.25, 0.1]의 argmax를 클래스 2라고 하지만" in out
    assert "클래스 1입니다" in out and "-ln 0.2097 = 1.5619" in out


def test_json_is_the_last_line_and_holds_the_numbers(capsys, tmp_path):
    args = ["softmax", "2", "-1", "0.5", "--target", "2", "--json", "--out", str(tmp_path / "s.png")]
    assert main(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    payload = json.loads(last)
    assert payload["topic"] == "softmax" and payload["figure"] == str(tmp_path / "s.png")
    assert payload["logits"] == [2.0, -1.0, 0.5] and payload["argmax"] == 0 and payload["target"] == 2


@pytest.mark.parametrize(
    "argv,message",
    [
        (["convv"], "unknown explain topic 'convv'; did you mean conv"),
        (["conv-size", "7", "3", "3"], "padding 1 makes it fit (output 3x3)"),
        (["conv-size", "7", "three"], "F (filter size) must be a whole number, got 'three'"),
        (["softmax", "1", "2", "--target", "7"], "--target must be a class index 0..1"),
        (["pool", "--target", "1"], "topic 'pool' takes --image, not --target"),
        (["conv", "--image", "no-such-file.png"], "no such file"),
        (["tensor", "--lang", "fr"], "invalid choice: 'fr'"),
        (["tensor", "--out", "picture.jpg"], "--out must name a folder or a .png file"),
        (["tensor", "extra"], "too many arguments"),
        (["lr", "3"], "learning rates in (0, 1]"),
        (["pool", "1,2;3,4", "3"], "a 3x3 window does not fit a 2x2 input"),
    ],
)
def test_user_mistakes_print_one_error_line_and_return_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert message in lines[0]


def test_help_returns_zero(capsys):
    assert main(["--help"]) == 0
    assert "layerlab explain" in capsys.readouterr().out


@pytest.mark.parametrize("topic", [name for name, _ in list_topics()])
def test_every_topic_without_a_figure_gives_the_working_and_writes_nothing(topic, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = explain(topic, figure=False)
    assert result.figure is None and result.text.strip() and result.numbers
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("topic, args", [("conv-size", ["9", "3", "2", "1"]), ("softmax", ["2", "1", "0.1"]),
                                         ("pool", []), ("padding", [])])
def test_no_figure_gives_the_same_numbers_and_text_as_the_full_run(topic, args, tmp_path):
    full = explain(topic, args, out=tmp_path)
    bare = explain(topic, args, figure=False)
    assert full.figure.is_file() and (bare.text, bare.numbers) == (full.text, full.numbers)


def test_the_cli_without_a_figure_prints_no_figure_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["conv-size", "7", "3", "2", "0", "--no-figure"]) == 0
    out = capsys.readouterr().out
    assert "= 3" in out.splitlines()[1] and "figure" not in out and not (tmp_path / "runs").exists()
