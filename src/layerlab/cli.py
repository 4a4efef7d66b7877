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
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

from layerlab.errors import LayerlabError, LayerlabWarning


def add_config_flags(parser: argparse.ArgumentParser, cfg_type: type) -> None:
    """One --flag per dataclass field, with the field's help, default and allowed values; the
    dataclass stays the single source of truth."""
    from layerlab.labs.base import option_help

    defaults = cfg_type()
    for name, tp in typing.get_type_hints(cfg_type).items():
        flag = "--" + name.replace("_", "-")
        text, choices = option_help(cfg_type, name)
        default = getattr(defaults, name)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        text += f" (default: {shown!r})" if shown == "" else f" (default: {shown})"
        if choices:
            text += f"; one of {', '.join(choices)}"
        text = text.replace("%", "%%")   # argparse formats help with %: "50% of the run" would crash --help
        if tp is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text)
        else:   # coerced (and checked against its choices) by make_config
            parser.add_argument(flag, default=argparse.SUPPRESS, metavar=name.upper(), help=text)


NPROC_HELP = ("train on N processes of this machine with DistributedDataParallel: starts torchrun for you "
              "(--batch-size is per process; resume with the same N)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="layerlab", description="A deep-learning course as software.")
    parser.add_argument("--version", action="version", version=f"layerlab {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("list", help="labs, models, datasets, losses, optimizers or schedules")
    p.add_argument("what", nargs="?", default="labs",
                   choices=["labs", "models", "datasets", "losses", "optimizers", "schedules"])
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("run", help="run a lab: layerlab run LAB [--epochs N] ...", add_help=False)
    p.add_argument("lab", nargs="?")
    for name in ("resume", "eval"):
        p = sub.add_parser(name, help=f"{name} a run folder")
        p.add_argument("run_dir")
        p.add_argument("--json", action="store_true")
        if name == "resume":
            p.add_argument("--nproc", type=int, help=NPROC_HELP)
    _add_predict_parser(sub)
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
    _add_serve_parser(sub)
    p = sub.add_parser("data", help="list datasets, describe one, or fetch one (download where a download exists)")
    p.add_argument("action", nargs="?", default="list", choices=["list", "info", "fetch"])
    p.add_argument("name", nargs="?")
    p.add_argument("--data-dir", help="fetch: a folder that may already hold the files")
    p.add_argument("--json", action="store_true")
    return parser


def _add_predict_parser(sub: Any) -> None:
    """`layerlab predict`: one command for every task's trained run."""
    p = sub.add_parser("predict", help="a trained run on your files (images, CSV rows, a prompt, sentences), "
                                       "or --samples N new images from a generative run")
    p.add_argument("run_dir")
    p.add_argument("files", nargs="*", help="images, CSV rows, or text files (a prompt; sentences, one per line)")
    p.add_argument("--prompt", help="language models: text to continue; translators: a sentence to translate")
    p.add_argument("--seed", type=int, help="the seed of any sampling: language models (default: greedy), "
                                            "--samples (default: 0)")
    p.add_argument("--temperature", type=float, help="language models: sample at this temperature, "
                   "below 1 more careful, above 1 more adventurous (default: greedy)")
    p.add_argument("--length", type=int, default=200, help="language models: characters to write (default: 200)")
    p.add_argument("--samples", type=int, default=0, help="generative runs (VAE, GAN): draw N new images")
    p.add_argument("--out", help="--samples: folder for the PNGs (default: RUN_DIR/samples/seed-S)")
    p.add_argument("--json", action="store_true")


def _add_serve_parser(sub: Any) -> None:
    """`layerlab serve`: its help is the explorer's table of contents."""
    p = sub.add_parser("serve", help="a local web explorer of your runs: curves, figures, try a model on "
                                     "your image, feature maps, interactive formulas",
                       description="Open a local web site (no internet needed) on your runs: the runs list "
                       "(lab, status, main metric, date); a run's config, per-epoch table and curves, figures, "
                       "report and per-layer model summary; 'Try it': upload an image to see the prediction, the "
                       "softmax bars and every conv layer's feature maps (or draw a digit); Compare: several runs' "
                       "curves; Explain: conv output size with sliders, pooling, softmax with editable logits. Add ?lang=ko to a page's address for Korean captions.")
    p.add_argument("dir", nargs="?", default="runs", help="folder of run folders (default: runs)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    p.add_argument("--host", help="address to listen on (default: 127.0.0.1, this machine only); 0.0.0.0 "
                                  "opens it to your network, with no login: you are warned")
    p = sub.add_parser("export", help="a trained run's model as an ONNX file (Netron, onnxruntime)")
    p.add_argument("run_dir")
    p.add_argument("--format", default="onnx", choices=["onnx"])
    p.add_argument("--out", help="the file to write (default: RUN_DIR/model.onnx)")
    p.add_argument("--json", action="store_true")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("layerlab")
    except PackageNotFoundError:       # a source tree on PYTHONPATH, not installed
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """The `layerlab` command with `argv` (default: sys.argv[1:]); returns the exit status."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            status = _command(argv)
        sys.stdout.flush()   # a reader that went away shows up here, not in Python's flush at exit
        return status
    except BrokenPipeError:
        # the reader stopped early (`layerlab list | head -1`): end quietly with the status of a
        # process killed by SIGPIPE (128 + 13), as `yes | head -1` does; stdout goes to /dev/null so
        # that Python's flush at exit does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """A LayerlabWarning is one `warning: …` line for the user; others keep Python's format."""
    if issubclass(category, LayerlabWarning):
        print(f"warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


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
                "summary": _summary, "viz": _viz, "data": _data, "runs": _runs,
                "serve": _serve, "export": _export}[args.command](args)
    except LayerlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; the last finished epoch's checkpoint is intact (layerlab resume RUN_DIR)", file=sys.stderr)
        return 130


def _emit(obj: Any, as_json: bool, human: str) -> None:
    print(json.dumps(obj) if as_json else human)


def _list(args: argparse.Namespace) -> int:
    from layerlab import catalog   # written-down registries: listing names imports no torch

    rows = [{"name": row["name"], "description": row["description"]} for row in catalog.load()[args.what]]
    _emit({args.what: rows}, args.json, "\n".join(f"{r['name']:<22} {r['description']}" for r in rows))
    return 0


def _run(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        from layerlab import catalog

        labs = catalog.load()["labs"]
        if any(a in ("-h", "--help") for a in argv):
            print(_run_usage(labs, catalog.load()["quick_help"]))
            return 0
        raise LayerlabError(f"run needs a lab name: one of {', '.join(row['name'] for row in labs)}")
    from layerlab.engine import distributed
    from layerlab.labs import LABS, run_lab

    entry = LABS.get(argv[0])
    parser = argparse.ArgumentParser(prog=f"layerlab run {argv[0]}", description=entry.meta["title"])
    add_config_flags(parser, entry.meta["config"])
    parser.add_argument("--out", default="runs", help="parent folder of run folders (default: runs)")
    parser.add_argument("--json", action="store_true", help="print the outcome as one JSON object on the last line")
    parser.add_argument("--nproc", type=int, help=NPROC_HELP)
    args = _parse(parser, argv[1:])
    if args.nproc is not None:
        return distributed.launch(args.nproc, ["run", *_without_nproc(argv)])
    overrides = {k: v for k, v in vars(args).items() if k not in ("out", "json", "nproc")}
    return _train(lambda announce: run_lab(argv[0], overrides, out=args.out, announce=announce), args.json)


def _train(start: Callable[[Any], dict[str, Any]], as_json: bool) -> int:
    """Run or resume a lab: join torchrun's other processes if any (rank 0 alone prints); Ctrl-C says what to resume."""
    from layerlab.engine import distributed

    started: list[Path] = []
    with distributed.session():
        try:
            outcome = start(_announcer(started))
        except KeyboardInterrupt:
            return _interrupted(started)
        if distributed.is_main():
            _finish_run(outcome, as_json)
    return 0


def _without_nproc(argv: list[str]) -> list[str]:
    """The command line without --nproc N (or --nproc=N): what each torchrun process runs."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept


def _announcer(started: list[Path]) -> Any:
    """Print the run folder once it exists, in rank 0 only (nothing otherwise)."""
    from layerlab.engine import distributed

    return (lambda path: _announce(path, started)) if distributed.is_main() else None


def _announce(path: Path, started: list[Path]) -> None:
    started.append(path)
    print(f"run folder: {path}", flush=True)


def _interrupted(started: list[Path]) -> int:
    """Ctrl-C: which folder to resume, and whether it has a checkpoint to resume from yet."""
    from layerlab.engine.run import RunDir

    if not started:
        raise KeyboardInterrupt
    epoch = RunDir(started[0]).checkpointed_epoch()
    saved = (f"its checkpoint holds epoch {epoch}" if epoch is not None else
             "it has no checkpoint yet (no epoch had finished), so resuming starts from the beginning")
    print(f"error: interrupted; {saved}: layerlab resume {started[0]}", file=sys.stderr)
    return 130


def _run_usage(labs: list[dict[str, Any]], quick_help: str) -> str:
    rows = [f"  {row['name']:<20} {row['description']}" for row in labs]
    return "\n".join(["usage: layerlab run LAB [--epochs N] [--batch-size B] [--lr X] [--device auto|cpu|cuda] "
                      "[--seed S] [--data-dir DIR] [--out DIR] [--quick] [--json] [--nproc N] [--<lab option> V]", "",
                      "labs:", *rows, "", f"--quick: {quick_help}.",
                      "layerlab run LAB --help lists that lab's options with their defaults."])


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
    from layerlab.engine import distributed
    from layerlab.labs import resume_lab

    if args.nproc is not None:
        return distributed.launch(args.nproc, ["resume", args.run_dir] + (["--json"] if args.json else []))
    return _train(lambda announce: resume_lab(args.run_dir, announce=announce), args.json)


def _eval(args: argparse.Namespace) -> int:
    from layerlab import tasks  # noqa: F401  (registers the predictors of ctc, gan, segmentation, ... runs)
    from layerlab.engine.deploy import evaluate_run

    metrics = evaluate_run(args.run_dir)
    lines = [f"scored {metrics['examples']:,} held-out examples"] + [f"{k}: {v:.4f}" for k, v in metrics.items() if k != "examples"]
    _emit({"run_dir": args.run_dir, **metrics}, args.json, "\n".join(lines))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from layerlab import tasks  # noqa: F401  (registers the predictors of ctc, gan, segmentation, ... runs)
    from layerlab.engine.deploy import PredictOptions, describe_predictions, predict_files, predict_prompt

    if not args.files and args.prompt is None and not args.samples:
        raise LayerlabError("predict needs files to predict on, --prompt TEXT for a language model or translator, "
                            "or --samples N for a run that generates (GAN, VAE)")
    options = PredictOptions(seed=args.seed, length=args.length, temperature=args.temperature, samples=args.samples,
                             out=args.out)
    results = predict_files(args.run_dir, args.files, options) if args.files or args.samples else []
    if args.prompt is not None:
        results += predict_prompt(args.run_dir, args.prompt, options)
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
    _emit(result, args.json, describe_run_view(result, args.lang))
    return 0


def _data(args: argparse.Namespace) -> int:
    if args.action == "fetch":
        return _fetch(args)
    if args.action == "list" or not args.name:
        from layerlab import catalog

        rows = [row["info"] for row in catalog.load()["datasets"]]
        _emit({"datasets": rows}, args.json, "\n".join(f"{r['name']:<20} {r['description']}" for r in rows))
        return 0
    from layerlab.data import describe

    info = describe(args.name)
    _emit(info, args.json, "\n".join(f"{k}: {v}" for k, v in info.items()))
    return 0


def _fetch(args: argparse.Namespace) -> int:
    """Read every split once: a dataset with a public download lands (checksum-verified) in the cache;
    one without says which files to put where."""
    from layerlab.data import DATASETS, get_dataset

    if not args.name:
        raise LayerlabError(f"data fetch needs a dataset name: one of {', '.join(DATASETS.names())}")
    counts = {split: len(get_dataset(args.name, split=split, root=args.data_dir))
              for split in DATASETS.get(args.name).meta["splits"]}
    data = get_dataset(args.name, split=next(iter(counts)), root=args.data_dir)
    where = data.meta.get("source")
    _emit({"name": args.name, "splits": counts, "source": where}, args.json,
          f"{args.name}: " + ", ".join(f"{split} {n:,}" for split, n in counts.items()) + (f"  (from {where})" if where else "")
          + "  ready")
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


def _serve(args: argparse.Namespace) -> int:
    from layerlab.web import serve   # FastAPI, uvicorn and torch load only here

    serve(args.dir, host=args.host, port=args.port)
    return 0


def _export(args: argparse.Namespace) -> int:
    from layerlab.engine.export import export_run

    out = export_run(args.run_dir, format=args.format, out=args.out)
    checked = ("not checked (pip install onnxruntime to compare it with PyTorch)" if out["max_abs_diff"] is None
               else f"onnxruntime vs PyTorch on a random batch: largest difference {out['max_abs_diff']:.2g}")
    mean = ", ".join(f"{m:g}" for m in out["normalise"]["mean"] or ())
    std = ", ".join(f"{s:g}" for s in out["normalise"]["std"] or ())
    inputs = f"input '{out['input_name']}' {tuple(out['input_shape'])}" + (f", normalised: (x - {mean}) / {std}" if mean else "")
    _emit(out, args.json, f"wrote {out['onnx']} ({out['bytes']:,} bytes, ONNX opset {out['opset']})\n{inputs}\n{checked}")
    return 0


def _explain(argv: list[str]) -> int:
    from layerlab.viz.explain.cli import main as explain_main

    return explain_main(argv)
