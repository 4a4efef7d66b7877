"""Reading weights and checkpoints: a damaged or foreign file is one line, a bug keeps its traceback."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from layerlab.engine.checkpoint import load_state, load_weights, save_state, save_weights
from layerlab.errors import LayerlabError


class RunsCode:
    """What a malicious pickle holds: unpickling it would call os.system."""

    def __reduce__(self) -> tuple:
        return (os.system, ("echo should never run",))


def _weights(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "model.safetensors"
    save_weights(nn.Linear(3, 2), path)
    return path


def test_weights_round_trip(tmp_path):
    torch.manual_seed(1)
    source = nn.Linear(3, 2)
    save_weights(source, tmp_path / "model.safetensors")
    target = load_weights(nn.Linear(3, 2), tmp_path / "model.safetensors")
    torch.testing.assert_close(target.weight, source.weight, rtol=0, atol=0)


def test_a_truncated_safetensors_file_is_one_line(tmp_path):
    path = _weights(tmp_path)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(LayerlabError) as error:
        load_weights(nn.Linear(3, 2), path)
    assert str(error.value).startswith(f"{path} is not a weights file: Error while deserializing header")


def test_weights_of_another_shape_are_one_line(tmp_path):
    path = _weights(tmp_path)
    with pytest.raises(LayerlabError) as error:
        load_weights(nn.Linear(4, 2), path)
    assert str(error.value) == f"1 tensor shapes in {path} differ from the model's: weight file (2, 3) vs model (2, 4)"


@pytest.mark.parametrize("content, reason", [
    (b"", "not written by torch.save, or cut short"),
    (bytes(range(256)), "not written by torch.save, or cut short"),        # random-looking bytes
    (b"step,loss\n1,0.5\n", "not written by torch.save, or cut short"),      # a CSV renamed .pt
])
def test_a_file_torch_save_did_not_write_is_one_line(tmp_path, content, reason):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(content)
    with pytest.raises(LayerlabError) as error:
        load_state(path)
    assert str(error.value) == f"{path} is not a layerlab checkpoint: {reason}"


def test_a_checkpoint_cut_short_is_one_line(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_state({"epoch": 3, "weights": torch.zeros(100)}, path)
    path.write_bytes(path.read_bytes()[:300])              # the zip's directory, at the end, is gone
    with pytest.raises(LayerlabError) as error:
        load_state(path)
    assert str(error.value) == f"{path} is not a layerlab checkpoint: not written by torch.save, or cut short"


def test_a_pickle_that_would_run_code_is_refused_in_one_line(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save({"epoch": RunsCode()}, path)
    with pytest.raises(LayerlabError) as error:
        load_state(path)
    assert str(error.value) == f"{path} is not a layerlab checkpoint: it asks for {os.system.__module__}.system, which weights-only loading refuses"


def test_a_missing_checkpoint_is_one_line(tmp_path):
    with pytest.raises(LayerlabError) as error:
        load_state(tmp_path / "checkpoint.pt")
    assert str(error.value) == f"no layerlab checkpoint at {tmp_path / 'checkpoint.pt'}"


def test_a_bug_inside_torch_load_is_not_reworded(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_state({"epoch": 3}, path)

    def broken_load(*args: object, **kwargs: object) -> None:
        raise AttributeError("'NoneType' object has no attribute 'read'")   # a bug, not the user's file

    monkeypatch.setattr(torch, "load", broken_load)
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'read'"):
        load_state(path)


def test_a_bug_inside_the_safetensors_reader_is_not_reworded(tmp_path, monkeypatch):
    path = _weights(tmp_path)

    def broken_load_file(*args: object, **kwargs: object) -> None:
        raise TypeError("load_file() got an unexpected keyword argument 'device'")

    monkeypatch.setattr("layerlab.models.pretrained.load_file", broken_load_file)
    with pytest.raises(TypeError, match="unexpected keyword argument 'device'"):
        load_weights(nn.Linear(3, 2), path)


def test_the_pre_1_6_torch_format_still_loads(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"weight": torch.ones(2, 3), "bias": torch.zeros(2)}, path, _use_new_zipfile_serialization=False)
    model = load_weights(nn.Linear(3, 2), path)
    assert model.weight.sum().item() == 6.0 and model.bias.sum().item() == 0.0
    assert pickle.loads(path.read_bytes()[:15]) == 0x1950A86A20F9469CFC6C    # the magic number it starts with
