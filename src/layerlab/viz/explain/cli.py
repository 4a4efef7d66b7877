"""The `layerlab explain` subcommand: parse, call `explain()`, print. No logic of its own.

    layerlab explain                         list the topics
    layerlab explain TOPIC [ARGS...] [--out FOLDER|FILE.png] [--lang en|ko] [--json]
                     [--image FILE] [--target K] [--seed S]

User mistakes print one line `error: ...` on stderr and return 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, NoReturn

from layerlab.errors import LayerlabError
from layerlab.viz.explain import explain, list_topics
from layerlab.viz.style import LANGS
from layerlab.viz.words import say


class _Parser(argparse.ArgumentParser):
    """argparse that raises LayerlabError instead of printing its usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise LayerlabError(f"{message} (see `layerlab explain --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="layerlab explain", description="Every course concept as numbers and a picture.")
    parser.add_argument("topic", nargs="?", help="what to explain; leave out to list the topics")
    parser.add_argument("args", nargs="*", help="the topic's own arguments, e.g. `conv-size 7 3 2 0`")
    parser.add_argument("--out", help="folder for the picture, written as TOPIC.png (default: runs/explain/), "
                        "or a .png file name")
    parser.add_argument("--lang", default="en", choices=LANGS, help="language of the printed working and the figure")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the text")
    parser.add_argument("--no-figure", dest="figure", action="store_false",
                        help="the numbers and the working only, no PNG (fast: matplotlib is not loaded)")
    parser.add_argument("--image", help="your own picture for conv, padding, pool (grayscale is used)")
    parser.add_argument("--target", type=int, help="softmax: the right class, counting from 0")
    parser.add_argument("--seed", type=int, help="overfitting: the random data's seed")
    parser.add_argument("--channels", type=int, help="spp: the feature map's channels (default 64)")
    return parser


def _topic_list(lang: str = "en") -> str:
    rows = list_topics(lang)
    width = max(len(name) for name, _ in rows)
    lines = [say("topics (layerlab explain TOPIC [args] [--lang ko])", lang) + ":"]
    lines += [f"  {name:<{width}}  {description}" for name, description in rows]
    return "\n".join(lines)


def run(argv: list[str]) -> int:
    """Parse and explain; LayerlabError passes through to `main`."""
    ns = build_parser().parse_intermixed_args(argv)
    if ns.topic is None:
        print(_topic_list(ns.lang))
        return 0
    options: dict[str, Any] = {k: getattr(ns, k) for k in ("image", "target", "seed", "channels") if getattr(ns, k) is not None}
    result = explain(ns.topic, ns.args, out=ns.out, lang=ns.lang, figure=ns.figure, **options)
    figure = str(result.figure) if result.figure else None
    if ns.json:
        print(json.dumps({"topic": result.topic, "figure": figure, **result.numbers}, ensure_ascii=False))
    else:
        print(result.text)
        if figure:
            print(f"{say('figure', ns.lang)}: {figure}")
    return 0


def main(argv: list[str]) -> int:
    """`layerlab explain ...` with `argv` the words after `explain`; returns the exit status."""
    try:
        return run(argv)
    except LayerlabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help prints and exits 0; keep main's promise to return a code
        return exit_.code if isinstance(exit_.code, int) else 0
