"""summary(): a forward with one input or several, and a model's own error left as it is."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from layerlab.inspect import summary


class TwoInputs(nn.Module):
    """forward(a, b) = Linear 3->2 (a) + Linear 5->2 (b): 3·2 + 2 = 8 and 5·2 + 2 = 12 parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.left = nn.Linear(3, 2)
        self.right = nn.Linear(5, 2)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return self.left(a) + self.right(b)


def test_a_tuple_of_tensors_is_passed_as_separate_arguments():
    table = summary(TwoInputs(), (torch.zeros(1, 3), torch.zeros(1, 5)))
    assert table.input_shape == ((3,), (5,))
    assert [(r.name, r.output_shape, r.params, r.formula) for r in table.rows] == [
        ("left", (2,), 8, "3·2 + 2 = 8"), ("right", (2,), 12, "5·2 + 2 = 12")]
    assert table.total_params == 20 and table.total_macs == 3 * 2 + 5 * 2
    assert table.to_dict()["input_shape"] == [(3,), (5,)]


def test_a_shape_still_means_a_zero_batch_of_one():
    table = summary(nn.Sequential(nn.Linear(4, 3)), (4,))
    assert table.input_shape == (4,) and table.total_params == 4 * 3 + 3 and table.total_macs == 12


def test_a_packed_sequence_counts_one_step_per_token():
    gru = nn.GRU(2, 3, batch_first=True)

    class Packed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = gru

        def forward(self, x: Tensor) -> Tensor:
            packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor([x.shape[1]]), batch_first=True)
            return self.gru(packed)[1]

    table = summary(Packed(), (7, 2))
    assert table.total_macs == 7 * 3 * 3 * (2 + 3)     # 7 steps · 3 gates · H · (input + H)


def test_an_error_inside_the_model_is_not_reworded():
    class Broken(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            raise RuntimeError("a bug in forward")

    with pytest.raises(RuntimeError, match="a bug in forward"):
        summary(Broken(), (3,))


def test_a_subclass_of_a_torch_layer_is_named_with_the_layer_it_is():
    from layerlab.models import get_model

    table = summary(get_model("dcgan-generator", width=4), (100,))
    kinds = {row.name: row.type for row in table.rows}
    assert kinds["net.0"] == "Project (ConvTranspose2d)" and kinds["net.3"] == "ConvTranspose2d"
    assert kinds["net.1"] == "BatchNorm2d"                          # torch's own layers keep their bare names
    lines = str(table).splitlines()
    header, first = lines[1], lines[3]
    assert header.index("output shape") == first.index("(8, 7, 7)")  # the type column widens to fit
