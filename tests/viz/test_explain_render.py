"""Every topic renders a sensible PNG in English and Korean, with no missing glyphs."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from PIL import Image

from layerlab.viz.explain import TOPICS, explain, list_topics
from layerlab.viz.style import figure_style, korean_font_name, korean_font_path, new_figure, save_figure

GLYPH_WORDS = ("glyph", "findfont")  # matplotlib's words for a character drawn as a box


@contextmanager
def font_problems() -> Iterator[list[str]]:
    """Collect matplotlib's missing-glyph and font-substitution reports (warnings and logs)."""
    found: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(record.getMessage())

    handler, logger = Collect(level=logging.WARNING), logging.getLogger("matplotlib")
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield found
        found.extend(str(w.message) for w in caught)
    finally:
        logger.removeHandler(handler)
    found[:] = [m for m in found if any(word in m.lower() for word in GLYPH_WORDS)]


def test_every_topic_is_listed_with_a_description():
    names = [name for name, _ in list_topics()]
    assert set(names) == set(TOPICS.names()) >= {
        "conv", "conv-size", "padding", "pool", "activation", "softmax", "lr", "tensor", "overfitting",
    }
    assert all(len(description) > 20 for _, description in list_topics())


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("topic", TOPICS.names())
def test_topic_renders_a_png_without_missing_glyphs(topic, lang, tmp_path):
    out = tmp_path / f"{topic}-{lang}.png"
    with font_problems() as problems:
        result = explain(topic, out=out, lang=lang)
    assert problems == []
    assert result.figure == out and result.topic == topic
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.width >= 400 and image.height >= 400
    assert 10_000 < out.stat().st_size < 200_000
    assert result.text.strip() and json.loads(json.dumps(result.numbers)) == result.numbers


def test_no_pyplot_figures_are_left_open(tmp_path):
    import matplotlib.pyplot as plt

    explain("softmax", out=tmp_path / "s.png", lang="ko")
    assert plt.get_fignums() == []


def test_the_glyph_check_can_fail(tmp_path):
    # Hangul drawn with a Latin-only font must be reported; otherwise the test above proves nothing
    with font_problems() as problems:
        fig, ax = new_figure(1, 1)
        ax[0, 0].set_title("합성곱", family="DejaVu Sans")
        save_figure(fig, tmp_path / "x.png", "title", "caption", "en")
    assert problems and "missing" in problems[0].lower()


def test_the_glyph_check_sees_log_axis_minus_signs(tmp_path):
    # log-axis labels are drawn by mathtext, which uses only the first font: NanumGothic first
    # would lose the minus sign in 10^-3 (the reason figure_style puts DejaVu Sans first)
    import matplotlib

    with font_problems() as problems, matplotlib.rc_context({"font.family": [korean_font_name(), "DejaVu Sans"]}):
        fig, ax = new_figure(1, 1)
        ax[0, 0].semilogy([1, 2], [1e-3, 1])
        save_figure(fig, tmp_path / "x.png", "title", "caption", "ko")
    assert problems and "U+2212" in problems[0]


def test_korean_font_comes_from_the_koreanize_package_and_is_used(tmp_path):
    path = korean_font_path()
    assert path.name == "NanumGothic.ttf" and "koreanize_matplotlib" in path.parts
    assert korean_font_name() == "NanumGothic"
    import matplotlib

    with figure_style("ko"):
        assert "NanumGothic" in matplotlib.rcParams["font.family"]
    assert "NanumGothic" not in matplotlib.rcParams["font.family"]  # nothing global changed
