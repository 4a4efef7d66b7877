"""The `layerlab` command: parse, look up in a registry, call one library function, print.

User mistakes (LayerlabError) print `error: …` on one line and exit with status 2; any other
exception is a bug and keeps its traceback. With --json the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import typing
from typing import Any, Sequence

from layerlab.errors import LayerlabError


def add_config_flags(parser: argparse.ArgumentParser, cfg_type: type) -> None:
    """One --flag per dataclass field; the dataclass stays the single source of truth."""
    for name, tp in typing.get_type_hints(cfg_type).items():
        flag = "--" + name.replace("_", "-")
        if tp is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS)
        else:
            parser.add_argument(flag, default=argparse.SUPPRESS, metavar=name.upper())   # coerced by make_config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="layerlab", description="A deep-learning course as software.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("list", help="labs, models, datasets, losses or optimizers")
    p.add_argument("what", nargs="?", default="labs", choices=["labs", "models", "datasets", "losses", "optimizers"])
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("run", help="run a lab: layerlab run LAB [--epochs N] ...", add_help=False)
    p.add_argument("lab", nargs="?")
    for name in ("resume", "eval"):
        p = sub.add_parser(name, help=f"{name} a run folder")
        p.add_argument("run_dir")
        p.add_argument("--json", action="store_true")
    p = sub.add_parser("predict", help="a trained run on your files (images, CSV rows, a prompt, sentences), "
                                       "or --samples N new images from a generative run")
    p.add_argument("run_dir")
    p.add_argument("files", nargs="*")
    p.add_argument("--seed", type=int, help="the seed of any sampling: language models (default: greedy), "
                                            "--samples (default: 0)")
    p.add_argument("--length", type=int, default=200, help="language models: characters to write (default: 200)")
    p.add_argument("--samples", type=int, default=0, help="generative runs (VAE, GAN): draw N new images")
    p.add_argument("--out", help="--samples: folder for the PNGs (default: RUN_DIR/samples/seed-S)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("summary", help="per-layer output shape and parameter count with its formula")
    p.add_argument("model")
    p.add_argument("--input", help="C,H,W (default: the model's registered input shape)")
    p.add_argument("--json", action="store_true")
    sub.add_parser("explain", help="a course concept as numbers and a picture", add_help=False)
    p = sub.add_parser("viz", help="a trained run's first-layer filters, feature maps and top predictions for one image")
    p.add_argument("run_dir")
    p.add_argument("--image", help="your image (default: the run's first test image)")
    p.add_argument("--layer", help="show this layer's feature maps only (e.g. features.3, layer2)")
    p.add_argument("--lang", default="en", choices=["en", "ko"])
    p.add_argument("--out", help="folder for the PNGs (default: RUN_DIR/figures/viz)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("runs", help="every run under DIR: lab, status, key metric, start; newest first")
    p.add_argument("dir", nargs="?", default="runs", help="folder of run folders (default: runs)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("data", help="list datasets or describe one")
    p.add_argument("action", nargs="?", default="list", choices=["list", "info"])
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The `layerlab` command with `argv` (default: sys.argv[1:]); returns the exit status."""
    try:
        status = _command(argv)
        sys.stdout.flush()   # a reader that went away shows up here, not in Python's flush at exit
        return status
    except BrokenPipeError:
        # the reader stopped early (`layerlab list | head -1`): end quietly with the status of a
        # process killed by SIGPIPE (128 + 13), as `yes | head -1` does; stdout goes to /dev/null so
        # that Python's flush at exit does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _command(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "explain":
            return _explain(argv[1:])
        if argv and argv[0] == "run":
            return _run(argv[1:])
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help()
            return 0
        return {"list": _list, "resume": _resume, "eval": _eval, "predict": _predict,
                "summary": _summary, "viz": _viz, "data": _data, "runs": _runs}[args.command](args)
    except LayerlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; the last finished epoch's checkpoint is intact (layerlab resume RUN_DIR)", file=sys.stderr)
        return 130


def _emit(obj: Any, as_json: bool, human: str) -> None:
    print(json.dumps(obj) if as_json else human)


def _list(args: argparse.Namespace) -> int:
    from layerlab.data import DATASETS
    from layerlab.engine import LOSSES, OPTIMIZERS
    from layerlab.labs import LABS
    from layerlab.models import MODELS

    registry = {"labs": LABS, "models": MODELS, "datasets": DATASETS, "losses": LOSSES, "optimizers": OPTIMIZERS}[args.what]
    rows = []
    for name in registry.names():
        meta = registry.get(name).meta
        text = meta.get("title") or meta.get("description", "")
        if args.what == "models":
            text = f"{meta['num_params']:>12,} params  input {tuple(meta['input_shape'])}  {text}"
        rows.append({"name": name, "description": text})
    _emit({args.what: rows}, args.json, "\n".join(f"{r['name']:<22} {r['description']}" for r in rows))
    return 0


def _run(argv: list[str]) -> int:
    from layerlab.labs import LABS, run_lab

    if not argv or argv[0].startswith("-"):
        if any(a in ("-h", "--help") for a in argv):
            print("usage: layerlab run LAB [--epochs N] [--batch-size B] [--lr X] [--device auto|cpu|cuda] "
                  "[--seed S] [--data-dir DIR] [--out DIR] [--quick] [--json] [--<lab option> V]")
            return 0
        raise LayerlabError(f"run needs a lab name: one of {', '.join(LABS.names())}")
    entry = LABS.get(argv[0])
    parser = argparse.ArgumentParser(prog=f"layerlab run {argv[0]}", description=entry.meta["title"])
    add_config_flags(parser, entry.meta["config"])
    parser.add_argument("--out", default="runs", help="parent folder of run folders (default: runs)")
    parser.add_argument("--json", action="store_true")
    args = _parse(parser, argv[1:])
    overrides = {k: v for k, v in vars(args).items() if k not in ("out", "json")}
    outcome = run_lab(argv[0], overrides, out=args.out)
    _finish_run(outcome, args.json)
    return 0


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:   # argparse already printed its message; keep our exit code contract
        if exc.code in (0, None):
            raise
        raise SystemExit(2) from None


def _finish_run(outcome: dict[str, Any], as_json: bool) -> None:
    metrics = {k: v for k, v in outcome.items() if k not in ("lab", "run_dir", "tables")}
    human = "\n".join([f"{k}: {v}" for k, v in metrics.items()] +
                      [f"run folder: {outcome['run_dir']}  (open report.md there; figures in figures/)"])
    _emit({k: v for k, v in outcome.items() if k != "tables"} if as_json else outcome, as_json, human)


def _resume(args: argparse.Namespace) -> int:
    from layerlab.labs import resume_lab

    _finish_run(resume_lab(args.run_dir), args.json)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from layerlab.engine.deploy import evaluate_run

    metrics = evaluate_run(args.run_dir)
    _emit({"run_dir": args.run_dir, **metrics}, args.json, "\n".join(f"{k}: {v:.4f}" for k, v in metrics.items()))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from layerlab.engine.deploy import PredictOptions, describe_predictions, predict_files

    options = PredictOptions(seed=args.seed, length=args.length, samples=args.samples, out=args.out)
    results = predict_files(args.run_dir, args.files, options)
    _emit({"predictions": results}, args.json, describe_predictions(args.run_dir, results))
    return 0


def _summary(args: argparse.Namespace) -> int:
    from layerlab.inspect import summary
    from layerlab.models import MODELS, example_input, get_model

    entry = MODELS.get(args.model)
    model = get_model(args.model)
    if not args.input:   # the registered input always fits: any error here is a bug and keeps its traceback
        table = summary(model, example_input(entry, 1))
    else:
        shape = _input_shape(args.input)
        try:
            table = summary(model, example_input(entry, 1, shape=shape))
        # what torch raises for a shape that does not fit: RuntimeError (matmul, conv channels, a kernel
        # larger than the input), ValueError (an RNN's rank check), IndexError (packing a wrong-rank batch)
        except (RuntimeError, ValueError, IndexError) as exc:
            summary(model, example_input(entry, 1))   # the registered input fits, so the user's shape failed
            raise LayerlabError(f"input shape {shape} does not fit {args.model} (registered input "
                                f"{entry.meta['input_shape']}): {str(exc).splitlines()[0]}") from None
    _emit({"model": args.model, **table.to_dict()}, args.json, str(table))
    return 0


def _input_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise LayerlabError(f"--input expects C,H,W integers like 3,224,224; got {text!r}") from None
    if min(shape) < 1:
        raise LayerlabError(f"--input expects positive sizes like 3,224,224; got {text!r}")
    return shape


def _viz(args: argparse.Namespace) -> int:
    from layerlab.viz.model_run import describe_run_view, visualize_run

    result = visualize_run(args.run_dir, image=args.image, layer=args.layer, lang=args.lang, out=args.out)
    _emit(result, args.json, describe_run_view(result))
    return 0


def _data(args: argparse.Namespace) -> int:
    from layerlab.data import DATASETS, describe

    if args.action == "list" or not args.name:
        rows = [describe(n) for n in DATASETS.names()]
        _emit({"datasets": rows}, args.json, "\n".join(f"{r['name']:<20} {r['description']}" for r in rows))
        return 0
    info = describe(args.name)
    _emit(info, args.json, "\n".join(f"{k}: {v}" for k, v in info.items()))
    return 0


def _runs(args: argparse.Namespace) -> int:
    from layerlab.labs import list_runs

    rows = list_runs(args.dir)
    table = [("lab", "status", "metric", "value", "started", "run_dir")] + [_run_cells(r) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[5] for row in table]
    _emit({"runs": rows}, args.json, "\n".join(lines) if rows else f"no runs under {args.dir}")
    return 0


def _run_cells(row: dict[str, Any]) -> tuple[str, ...]:
    """One run as table cells: the metric with its better direction (and epoch, before the run ended)."""
    metric = row["metric"] or "-"
    if row["higher_is_better"] is not None:
        metric += " ↑" if row["higher_is_better"] else " ↓"
    if row.get("epoch") is not None:
        metric += f" (epoch {row['epoch']})"
    value = f"{row['value']:.4g}" if isinstance(row["value"], (int, float)) else "-"
    started = (row["started"] or "-")[:16].replace("T", " ")
    return row["lab"], row["status"], metric, value, started, row["run_dir"]


def _explain(argv: list[str]) -> int:
    from layerlab.viz.explain.cli import main as explain_main

    return explain_main(argv)
