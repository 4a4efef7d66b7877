"""How a run tells what happened: report.md and the figures, in the run's language (--lang), with
numbers worded so that they read the right way round.

`LabRun` is the run folder the runner hands to a lab: the same `RunDir`, except that its figures
get their titles translated (viz.words, the one table) before they are saved.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Sequence

from layerlab.engine.run import RunDir, select_device
from layerlab.engine.speed import native_bf16
from layerlab.engine.tensorboard import write_events
from layerlab.labs.base import LabResult, Note
from layerlab.viz.words import localize_figure, say


class LabRun(RunDir):
    """A lab's run folder: figures are titled in the language the run's config asks for."""

    @property
    def lang(self) -> str:
        return self.config.get("config", {}).get("lang", "en")

    def save_figure(self, figure: Any, name: str) -> Any:
        return super().save_figure(localize_figure(figure, self.lang) if self.writes else figure, name)

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """metrics.jsonl, and with --tensorboard the same rows as event files in tensorboard/."""
        super().write_metrics(rows)
        if self.writes and self.config.get("config", {}).get("tensorboard"):     # rank 0 only, as metrics.jsonl
            write_events(self.path / "tensorboard", rows)


# ---------------------------------------------------------------------------------------------
# Wording: a comparison says which way is better; a ratio near 1 says "about the same"
# ---------------------------------------------------------------------------------------------

def change_words(value: float, baseline: float, *, higher_is_better: bool, lang: str = "en") -> str:
    """`value` against `baseline` as a percentage and a verdict: (6.020, 4.862, lower better) ->
    "23.8% higher, so worse" (Korean: "23.8% 높아 더 나쁨"); (4.0, 5.0, lower better) -> "20.0% lower, so better"."""
    ko = lang == "ko"
    if baseline == 0 or round(100 * (value / baseline - 1), 1) == 0:
        return "차이 없음" if ko else "the same"
    pct = 100 * (value / baseline - 1)
    better = (pct > 0) == higher_is_better
    if ko:
        return f"{abs(pct):.1f}% {'높아' if pct > 0 else '낮아'} 더 {'좋음' if better else '나쁨'}"
    return f"{abs(pct):.1f}% {'higher' if pct > 0 else 'lower'}, so {'better' if better else 'worse'}"


def accuracy_note(accuracy: float, count: int) -> Note:
    """The classification labs' last note: the test accuracy and how many unseen images it counts."""
    acc, n = f"{accuracy:.4f}", f"{count:,}"
    return Note(f"Test accuracy {acc} on {n} images never seen in training.",
                f"학습에 쓰지 않은 이미지 {n}장에서 테스트 정확도 {acc}.")


def times_words(smaller: float, larger: float, noun: str, lang: str = "en") -> str:
    """How many times fewer `noun` `smaller` is than `larger`: (12.0, 27.0, "choices") -> "2.2x fewer
    choices"; within 5% either way -> "about as many choices"; below 1 -> "1.3x more choices".
    Korean (`noun` given in Korean): "선택지 2.2배 적음", "선택지 비슷함", "선택지 1.3배 많음"."""
    ratio, ko = larger / smaller, lang == "ko"
    if ratio >= 1.05:
        return f"{noun} {ratio:.1f}배 적음" if ko else f"{ratio:.1f}x fewer {noun}"
    if ratio <= 1 / 1.05:
        return f"{noun} {1 / ratio:.1f}배 많음" if ko else f"{1 / ratio:.1f}x more {noun}"
    return f"{noun} 비슷함" if ko else f"about as many {noun}"


def format_column(values: Sequence[Any]) -> list[str]:
    """A table column as text: floats with 4 significant digits, more where that would make two
    different numbers look equal (12.345 and 12.352 are not both "12.35"), at most 8; None (no value,
    e.g. the accuracy of a class with no test image) is a dash."""
    floats = {v for v in values if isinstance(v, float)}
    digits = 4
    while digits < 8 and len({_number(v, digits) for v in floats}) < len(floats):
        digits += 1
    return [_number(v, digits) if isinstance(v, float) else "—" if v is None else str(v) for v in values]


def _number(value: float, digits: int) -> str:
    return f"{value:.{digits}g}" if abs(value) < 1e5 else f"{value:,.0f}"


# ---------------------------------------------------------------------------------------------
# report.md
# ---------------------------------------------------------------------------------------------

def trained_words(trained: dict[str, int], *, planned: int | None, stopped_early: bool) -> str:
    """'Trained 37 epochs of at most 100: early stopping ended the run; ...', or 'Trained 2000 iterations'."""
    unit, count = next(iter(trained.items()))
    text = f"Trained {count} {unit.removesuffix('s') if count == 1 else unit}"
    if stopped_early and planned is not None:
        text += f" of at most {planned}: early stopping ended the run; the saved weights are the best epoch's"
    return text + "."


def render_report(entry: Any, cfg: Any, result: LabResult, *, seconds: float, trained: dict[str, int]) -> str:
    """report.md: title, results, notes, tables, history, figures, model and configuration."""
    lang = cfg.lang

    def heading(text: str) -> list[str]:
        return ["", f"## {say(text, lang)}", ""]

    lines = [f"# {say(result.title or entry.meta['title'], lang)}", "", f"{say('Course unit', lang)}: {say(entry.meta['unit'], lang)}  ",
             f"{say('Lab', lang)}: `{entry.name}` · {say('run time', lang)} {seconds:.1f} s · {say('seed', lang)} {cfg.seed}"]
    if emulated_bf16(cfg):
        lines += ["", f"**{say('Precision: float32', lang)}**: " + say(FLOAT32_INSTEAD, lang)]
    if cfg.quick:
        lines += ["", f"**{say('Smoke run (--quick)', lang)}**: " + say(
            "a small slice of the data and one or two epochs: these numbers check that the lab runs, not what the "
            "model can learn.", lang)]
    stopped = result.history is not None and result.history.stopped_early
    lines += ["", say(trained_words(trained, planned=cfg.epochs, stopped_early=stopped), lang)]
    lines += heading("Results") + markdown_table([{say("metric", lang): k, say("value", lang): v}
                                                  for k, v in result.metrics.items()])
    if result.notes:
        lines += heading("What to notice") + [f"- {note_text(note, lang)}" for note in result.notes]
    for title, rows in result.tables.items():
        lines += heading(title) + markdown_table(rows)
    if result.history is not None and len(result.history):
        lines += heading("Training history") + markdown_table(result.history.epochs)
    if result.figures:
        lines += heading("Figures") + [f"![{p.stem}](figures/{p.name})" for p in result.figures]
    if result.summary is not None:
        lines += heading("Model") + [f"{result.summary.total_params:,} "
                                     + say("parameters; per layer in `summary.txt`.", lang)]
    config = json.dumps(dataclasses.asdict(cfg), indent=2, sort_keys=True)
    lines += heading("Configuration") + ["```json", config, "```", ""]
    return "\n".join(lines)


FLOAT32_INSTEAD = ("`--amp` asks for bf16 autocast, but the device it trained on has no native bf16 (torch would "
                   "emulate it, many times slower), so the run trained in float32: its times are float32's.")


def emulated_bf16(cfg: Any) -> bool:
    """The lab asked for bf16 autocast (`amp`) on a device that would only emulate it: it ran in float32."""
    if not getattr(cfg, "amp", False):
        return False
    return not native_bf16(select_device(getattr(cfg, "device", "auto")).type)


def note_text(note: Note | str, lang: str) -> str:
    """A note in the run's language; a plain string is a note a lab gives in English only."""
    return note.in_lang(lang) if isinstance(note, Note) else note


def markdown_table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    keys = list(dict.fromkeys(k for row in rows for k in row))
    columns = [format_column([row.get(k, "") for row in rows]) for k in keys]
    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    out += ["| " + " | ".join(column[i] for column in columns) + " |" for i in range(len(rows))]
    return out
