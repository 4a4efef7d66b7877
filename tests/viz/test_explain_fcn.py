"""The FCN topics' numbers: transposed convolution by stamping against torch, and convolutionalization
of the course's CIFAR net (same logits, score maps of the size the arithmetic says)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from layerlab.viz.explain.cli import main
from layerlab.viz.explain.convolutionalization import convolutionalization_numbers
from layerlab.viz.explain.transposed import stamp, transposed_numbers


@pytest.mark.parametrize("n,f,s,p", [(2, 3, 2, 0), (3, 4, 2, 1), (4, 2, 2, 0), (3, 3, 1, 1), (2, 5, 3, 2)])
def test_stamping_equals_conv_transpose2d(n, f, s, p):
    g = torch.Generator().manual_seed(n * 100 + f)
    inputs, kernel = torch.randn(n, n, generator=g), torch.randn(f, f, generator=g)
    expected = F.conv_transpose2d(inputs[None, None], kernel[None, None], stride=s, padding=p)[0, 0]
    torch.testing.assert_close(stamp(inputs, kernel, s, p), expected)


def test_the_default_example_by_hand():
    numbers = transposed_numbers(2, 3, 2, 0)
    assert numbers["output"] == 5 and numbers["working"] == "(2 - 1)*2 - 2*0 + 3 = 5"
    # 1, 2, 3, 4 each stamp a 3x3 of ones, 2 pixels apart: the middle row and column are where they overlap
    assert numbers["result"] == [[1, 1, 3, 2, 2], [1, 1, 3, 2, 2], [4, 4, 10, 6, 6], [3, 3, 7, 4, 4], [3, 3, 7, 4, 4]]
    assert numbers["stamp_starts"] == [0, 2] and numbers["conv_back"] == 2
    assert transposed_numbers(2, 2, 2, 0)["conv_back"] == 2
    assert transposed_numbers(3, 4, 2, 1)["stamp_starts"] == [-1, 1, 3]        # padding 1 cuts the first row


def test_the_convolutionalized_course_net_keeps_its_logits_and_gives_maps_of_the_computed_size():
    state = torch.get_rng_state()
    numbers = convolutionalization_numbers(64)
    assert torch.equal(torch.get_rng_state(), state)                            # its own generator only
    assert numbers["params_classifier"] == numbers["params_fcn"] == 9_457_962
    assert [layer["conv"] for layer in numbers["layers"]] == [[2048, 256, 4, 4], [256, 2048, 1, 1], [10, 256, 1, 1]]
    assert numbers["scores_shape"] == [2, 10, 1, 1] and numbers["max_difference"] < 1e-4
    assert numbers["map_shape"] == [10, 5, 5]                                   # 64 / 8 = 8; (8 - 4) + 1 = 5
    assert convolutionalization_numbers(40)["map_shape"] == [10, 2, 2]          # 40 / 8 = 5; (5 - 4) + 1 = 2
    assert convolutionalization_numbers(32)["map_shape"] == [10, 1, 1]


@pytest.mark.parametrize("argv,message", [
    (["convolutionalization", "50"], "N must be a multiple of 8 from 32 to 256"),
    (["transposed-conv", "2", "3", "2", "5"], "padding 5 cuts away the whole output"),
    (["transposed-conv", "9", "3"], "N, F and S go up to 8"),
    (["transposed-conv", "2"], "needs at least N and F"),
])
def test_mistakes_are_one_line_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and message in err[0]
