"""`explain TOPIC --lang ko` prints its working in Korean: the words change, the numbers do not.

One Korean run per topic; its English working comes from the same numbers through the topic's
`text_of(numbers, "en")`, which is what `explain(topic, lang="en")` prints.
"""

from __future__ import annotations

import importlib
import re

import pytest

from layerlab.viz.explain import MODULES, explain
from layerlab.viz.explain import cli, vanishing
from layerlab.viz.explain.cli import main

HANGUL = re.compile("[\uac00-\ud7a3]")
NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?")   # signs left out: "1-D" and "x - 3" are not negatives


def numbers_in(text: str) -> list[str]:
    # sorted: Korean puts some numbers in another order ("6 filters of 5x5" -> "5x5 필터 6개")
    return sorted(NUMBER.findall(text))


def test_the_number_pattern_reads_the_working_as_written():
    assert NUMBER.findall("loss 22.5 -> 2.046e-11 (converges); 1-D: w 0 -> -17.18") == [
        "22.5", "2.046e-11", "1", "0", "17.18"]


# every topic prints its working in Korean under --lang ko (gan-game, convolutionalization,
# transposed-conv and reparameterisation were English-only until issue 11's second pass)
TRANSLATED = ("tensor", "conv", "conv-size", "padding", "pool", "activation", "softmax", "lr", "overfitting",
              "vanishing-gradient", "convolutionalization", "transposed-conv", "gan-game", "reparameterisation",
              "iou", "nms", "spp")


def test_every_topic_is_translated():
    assert sorted(TRANSLATED) == sorted(MODULES)     # a new topic joins this list with its Korean working


def assert_korean_like_english(korean: str, english: str) -> None:
    """Every line of the Korean working that has words has Hangul; the numbers and the lines are the English ones."""
    assert not HANGUL.search(english)
    untranslated = [line for line in korean.splitlines() if not HANGUL.search(line) and _has_words(line)]
    assert untranslated == []
    assert numbers_in(korean) == numbers_in(english)
    assert len(korean.splitlines()) == len(english.splitlines())


@pytest.mark.parametrize("topic", TRANSLATED)
def test_korean_working_in_the_terminal_has_hangul_and_the_english_numbers(topic, tmp_path, capsys, monkeypatch):
    results = []

    def keep(*args, **kwargs):          # the CLI's own call, so the printed text is what is checked
        results.append(explain(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(cli, "explain", keep)
    assert main([topic, "--lang", "ko", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.splitlines()
    (result,) = results
    english = importlib.import_module(f"layerlab.viz.explain.{MODULES[topic]}").text_of(result.numbers, "en")
    assert printed[:-1] == result.text.splitlines() and printed[-1].startswith("그림: ")
    assert_korean_like_english(result.text, english)


def test_vanishing_gradient_layers_works_in_korean_too(tmp_path):
    result = explain("vanishing-gradient", ["layers", "4"], out=tmp_path, lang="ko")
    assert result.text.splitlines()[2].startswith("  sigmoid  층마다 x0.")
    assert_korean_like_english(result.text, vanishing.layers_text_of(result.numbers, "en"))


def test_the_topic_list_is_korean_under_lang_ko(capsys):
    assert main(["--lang", "ko"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("주제 (layerlab explain")
    assert len(lines) == 1 + len(MODULES) and all(HANGUL.search(line) for line in lines)


# names and formulas that stay as they are in Korean ("exp(z - 0.3): ... sum = 4.5355", "out[0,0] = ...")
NAMES = {"sum", "exp", "logits", "softmax", "sigmoid", "tanh", "relu", "leaky_relu", "gelu", "arange", "reshape",
         "out", "max"}


def _has_words(line: str) -> bool:
    return any(word not in NAMES for word in re.findall("[a-z_]{3,}", line.lower()))


def test_the_cli_prints_the_korean_working(capsys, tmp_path):
    assert main(["conv-size", "7", "3", "2", "--lang", "ko", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "입력 7x7, 필터 3x3, 스트라이드 2, 패딩 0"
    assert lines[1] == "출력 = (N - F + 2P)/S + 1 = (7 - 3 + 2*0)/2 + 1 = 3  ->  3x3"
    assert lines[-1] == f"그림: {tmp_path / 'conv-size.png'}"
