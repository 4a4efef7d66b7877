"""`layerlab export RUN_DIR --format onnx`: a trained run's model as one portable ONNX file.

The file opens in Netron (the graph with every layer's shapes) and runs in onnxruntime or any
other ONNX runtime, with no PyTorch and no layerlab. The batch dimension stays free; the rest
of the input is the card's `input_shape`, as the model was trained. Inputs go in exactly as the
PyTorch model takes them: normalised with the card's mean and std (model.json), which the ONNX
file does not contain.

When onnxruntime is installed, the export is checked at once: the same random batch through
PyTorch and through onnxruntime, and the largest difference of their outputs is reported.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from pathlib import Path
from typing import Any, Iterator

import torch

from layerlab.engine.deploy import load_trained
from layerlab.engine.run import RunDir
from layerlab.errors import LayerlabError
from layerlab.files import atomic_write_bytes

FORMATS = ("onnx",)
OPSET = 18           # onnxruntime 1.16 (2023) and later run it
_FLOAT_TASKS = ("classification", "regression", "segmentation", "autoencoder")   # inputs are float tensors of input_shape


def export_run(run_dir: str | Path, *, format: str = "onnx", out: str | Path | None = None) -> dict[str, Any]:
    """Write the run's model as ONNX (default RUN_DIR/model.onnx, atomically) and return what was written."""
    if format not in FORMATS:
        raise LayerlabError(f"--format must be one of {', '.join(FORMATS)}; got {format!r}")
    run = RunDir.open(run_dir)
    model, card = load_trained(run.path)
    if card.task not in _FLOAT_TASKS or not card.input_shape:
        raise LayerlabError(f"export writes models whose input is one float tensor ({', '.join(_FLOAT_TASKS)} runs); "
                            f"this run's task is {card.task!r}")
    model = model.float().eval()
    example = torch.randn(2, *card.input_shape, generator=torch.Generator().manual_seed(0))   # (B, *input_shape)
    path = Path(out) if out is not None else run.path / "model.onnx"
    data = _to_onnx(model, example, card.model)
    atomic_write_bytes(path, data)
    return {"run_dir": str(run.path), "onnx": str(path), "bytes": len(data), "opset": OPSET,
            "input_name": "inputs", "input_shape": ["batch", *card.input_shape], "output_name": "outputs",
            "normalise": {"mean": card.mean, "std": card.std}, "max_abs_diff": check_onnx(model, data, example)}


def _to_onnx(model: torch.nn.Module, example: torch.Tensor, name: str) -> bytes:
    """The ONNX bytes of `model` traced on `example` by torch.export (the exporter PyTorch maintains)."""
    try:
        from onnxscript import __version__  # noqa: F401  (the exporter's dependency: a clear line if it is missing)
    except ImportError:
        raise LayerlabError("ONNX export needs the onnx and onnxscript packages: pip install 'layerlab[onnx]' "
                            "(or pip install onnx onnxscript)") from None
    batch = torch.export.Dim("batch", min=1, max=4096)
    try:
        with warnings.catch_warnings(), _quiet("torch.onnx"):
            warnings.simplefilter("ignore")   # the exporter's own notes (deprecations, "torchvision is not
            # installed") are not the user's business
            program = torch.onnx.export(model, (example,), dynamo=True, input_names=["inputs"], output_names=["outputs"],
                                        dynamic_shapes=({0: batch},), opset_version=OPSET, verbose=False)
    except (torch.onnx.errors.OnnxExporterError, RuntimeError, ValueError, TypeError) as exc:
        raise LayerlabError(f"{name} could not be exported to ONNX: {_reason(str(exc))[:300]}") from None
    buffer = io.BytesIO()
    program.save(buffer, external_data=False)   # one self-contained file
    return buffer.getvalue()


def _reason(text: str) -> str:
    """The line of an exporter error that says what went wrong: its "Exception summary" (without the
    class name) when it has one, else its first line."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if "## Exception summary" in lines:
        rest = [line for line in lines[lines.index("## Exception summary") + 1:] if line]
        if rest:
            return re.sub(r"^<class '[\w.]+'>: ", "", rest[0])
    return lines[0] if lines else "unknown error"


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Log records of logger `name` (and its children) below ERROR are dropped inside the block."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def check_onnx(model: torch.nn.Module, data: bytes, example: torch.Tensor) -> float | None:
    """The largest |PyTorch - onnxruntime| over the outputs for `example`; None without onnxruntime."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    (outputs,) = session.run(["outputs"], {"inputs": example.numpy()})
    with torch.no_grad():
        expected = model(example)
    return float((torch.from_numpy(outputs) - expected).abs().max())
