"""explain iou, nms and spp: the numbers they print are the library's, worked by hand."""

from __future__ import annotations

import pytest

from layerlab.errors import LayerlabError
from layerlab.viz.explain import explain, list_topics


def test_iou_of_a_square_shifted_by_a_third_is_one_half(tmp_path):
    result = explain("iou", [], out=tmp_path / "iou.png")
    assert result.numbers["iou"] == pytest.approx(0.5, abs=1e-4) and result.figure.is_file()
    custom = explain("iou", "0 0 4 4 2 2 6 6".split(), out=tmp_path / "b.png")
    assert custom.numbers["intersection_area"] == 4 and custom.numbers["union_area"] == 28
    assert "IoU = 4 / 28 = 0.1429" in custom.text and "a miss" in custom.text
    with pytest.raises(LayerlabError, match="needs x2 > x1"):
        explain("iou", "5 0 4 4 2 2 6 6".split(), out=tmp_path / "c.png")
    with pytest.raises(LayerlabError, match="8 numbers"):
        explain("iou", ["1", "2"], out=tmp_path / "d.png")


def test_nms_removes_each_objects_duplicates_step_by_step(tmp_path):
    result = explain("nms", [], out=tmp_path / "nms.png")
    steps = result.numbers["steps"]
    assert result.numbers["kept"] == [0, 3, 5]                    # one box per object, and the lone box
    assert [s["kept"] for s in steps] == [0, 3, 5]
    assert sorted(r["box"] for r in steps[0]["removed"]) == [1, 2] and [r["box"] for r in steps[1]["removed"]] == [4]
    assert all(r["iou"] > 0.5 for s in steps for r in s["removed"])
    assert "step 1: keep box 0 (score 0.92); remove box" in result.text
    loose = explain("nms", ["0.95"], out=tmp_path / "n2.png")
    assert loose.numbers["kept"] == [0, 3, 1, 4, 2, 5]            # nothing overlaps by more than 0.95
    with pytest.raises(LayerlabError, match="between 0 and 1"):
        explain("nms", ["2"], out=tmp_path / "n3.png")


def test_spp_gives_every_window_the_same_length(tmp_path):
    result = explain("spp", [], out=tmp_path / "spp.png")
    assert [w["length"] for w in result.numbers["windows"]] == [21 * 64, 21 * 64]
    thirteen = result.numbers["windows"][0]["levels"]["4x4"]["rows"]
    assert thirteen == [[0, 4], [3, 7], [6, 10], [9, 13]]         # floor(i·13/4), ceil((i+1)·13/4)
    small = explain("spp", ["3", "5"], out=tmp_path / "s.png", channels=8)
    assert small.numbers["windows"][0]["levels"]["4x4"]["rows"] == [[0, 1], [0, 2], [1, 3], [2, 3]]
    assert "= 168 numbers" in small.text
    assert {"iou", "nms", "spp"} <= {name for name, _ in list_topics()}


def test_spp_takes_the_channels_from_the_command_line(capsys):
    from layerlab.viz.explain.cli import main

    assert main(["spp", "4", "3", "--channels", "8", "--no-figure"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "  total: (16 + 4 + 1) bins x 8 channels = 168 numbers"
