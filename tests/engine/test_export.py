"""`layerlab export RUN_DIR --format onnx`: the ONNX file, run by onnxruntime, gives PyTorch's outputs.

Tolerance: |onnxruntime - PyTorch| <= 1e-5 + 1e-4·|PyTorch| per logit, both in float32. Measured
here on this LeNet-5 (logits up to ~10): the largest difference 2.6e-6, about 40x inside it.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from layerlab.cli import main
from layerlab.engine.card import ModelCard
from layerlab.engine.checkpoint import save_weights
from layerlab.engine.export import export_run
from layerlab.engine.run import RunDir
from layerlab.errors import LayerlabError
from layerlab.models import get_model

import onnxruntime                          # runs the exported graph (the test extra)
import onnxscript  # noqa: F401             # torch's ONNX exporter needs it: fail here, not inside export


def lenet_run(root, task: str = "classification") -> RunDir:
    """A run folder holding a LeNet-5 whose logits are large enough (~10) for a relative check to mean something."""
    torch.manual_seed(0)
    model = get_model("lenet5", padding=2)                  # 28x28 digits padded to the paper's 32x32
    with torch.no_grad():
        model.classifier[-1].weight.mul_(200)
    run = RunDir.create(root, "lenet-mnist", {})
    ModelCard(model="lenet5", overrides={"padding": 2}, input_shape=(1, 28, 28), task=task, mean=(0.1307,), std=(0.3081,),
              classes=tuple("0123456789")).save(run.path / "model.json")
    save_weights(model, run.weights_path())
    return run


def test_the_onnx_file_gives_pytorchs_logits_for_any_batch_size(tmp_path, capsys):
    run = lenet_run(tmp_path)
    assert main(["export", str(run.path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["onnx"] == str(run.path / "model.onnx") and out["input_shape"] == ["batch", 1, 28, 28]
    assert out["normalise"] == {"mean": [0.1307], "std": [0.3081]} and out["max_abs_diff"] < 1e-4
    session = onnxruntime.InferenceSession(str(run.path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["inputs"] and [o.name for o in session.get_outputs()] == ["outputs"]
    model = get_model("lenet5", padding=2)
    model.load_state_dict(load_file(run.weights_path()))
    inputs = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(1))    # 5: not the traced batch of 2
    (onnx_logits,) = session.run(["outputs"], {"inputs": inputs.numpy()})
    with torch.no_grad():
        expected = model.eval()(inputs)
    assert expected.abs().max() > 5                                                   # not a check on near-zeros
    torch.testing.assert_close(torch.from_numpy(onnx_logits), expected, rtol=1e-4, atol=1e-5)
    assert not list(run.path.glob(".*tmp"))                                             # written atomically


def test_what_cannot_be_exported_is_one_line(tmp_path, capsys):
    unpadded = lenet_run(tmp_path / "a")
    card = json.loads((unpadded.path / "model.json").read_text())
    (unpadded.path / "model.json").write_text(json.dumps({**card, "overrides": {}}))   # 28x28 into a 32x32 net
    with pytest.raises(LayerlabError, match=r"^lenet5 could not be exported to ONNX: lenet5 needs 32x32 inputs"):
        export_run(unpadded.path)
    run = lenet_run(tmp_path / "b", task="language-model")
    with pytest.raises(LayerlabError, match="this run's task is 'language-model'"):
        export_run(run.path)
    assert main(["export", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nowhere'} is not a layerlab run folder (no config.json in it)"
    with pytest.raises(LayerlabError, match="--format must be one of onnx; got 'tflite'"):
        export_run(run.path, format="tflite")
