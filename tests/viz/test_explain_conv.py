"""conv, conv-size and padding: the numbers against torch, the working as written."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from layerlab.errors import LayerlabError
from layerlab.viz.explain import explain
from layerlab.viz.explain.conv import PRESETS, convolve_image, resolve_kernel, sliding_window, tiny_input
from layerlab.viz.explain.padding import padding_numbers
from layerlab.viz.explain.sizes import size_numbers


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_sliding_window_equals_f_conv2d_for_every_preset(name):
    _, kernel = resolve_kernel(name)
    inputs = tiny_input(5)
    out, lines = sliding_window(inputs, kernel)
    torch.testing.assert_close(out, F.conv2d(inputs[None, None], kernel[None, None])[0, 0])
    assert len(lines) == 9


def test_each_output_cell_is_written_as_a_dot_product_that_adds_up():
    inputs = torch.tensor([[1, 2, 0], [0, 1, 3], [4, 0, 1]], dtype=torch.float64)
    kernel = torch.tensor([[1, 0], [-1, 2]], dtype=torch.float64)
    out, lines = sliding_window(inputs, kernel)
    assert out.tolist() == [[3.0, 7.0], [-4.0, 3.0]]  # by hand: 2 + 0 - 1 + 6 = 7, 1 + 0 - 0 + 2 = 3
    assert lines[0] == "out[0,0] = 1·1 + 2·0 + 0·(-1) + 1·2 = 3"
    assert lines[2] == "out[1,0] = 0·1 + 1·0 + 4·(-1) + 0·2 = -4"


def test_sliding_window_with_stride_2_matches_torch():
    inputs, kernel = tiny_input(7), torch.tensor(PRESETS["outline"], dtype=torch.float64)
    out, lines = sliding_window(inputs, kernel, stride=2)
    assert out.shape == (3, 3) and len(lines) == 9  # (7 - 3)/2 + 1 = 3
    torch.testing.assert_close(out, F.conv2d(inputs[None, None], kernel[None, None], stride=2)[0, 0])


def test_image_convolution_keeps_the_size_and_identity_keeps_the_image():
    image = torch.rand(12, 17)
    _, identity = resolve_kernel("identity")
    torch.testing.assert_close(convolve_image(image, identity), image.double())
    _, sobel = resolve_kernel("sobel-x")
    edges = convolve_image(torch.ones(6, 6), sobel)
    assert edges.shape == (6, 6)
    assert torch.all(edges[1:-1, 1:-1] == 0)  # a flat image has no vertical edges inside


def test_custom_kernels_parse_and_mistakes_are_one_line_errors():
    assert resolve_kernel("0,-1,0;-1,5,-1;0,-1,0")[1].tolist() == PRESETS["sharpen"]
    assert resolve_kernel("[[1, 2], [3, 4]]")[1].tolist() == [[1, 2], [3, 4]]
    with pytest.raises(LayerlabError, match="did you mean sobel-x"):
        resolve_kernel("sobelx")
    with pytest.raises(LayerlabError, match="square"):
        resolve_kernel("1,2,3;4,5,6")
    with pytest.raises(LayerlabError, match="must be a number"):
        resolve_kernel("1,2;3,x4")


def test_conv_topic_reports_the_numbers_for_the_users_image(tmp_path):
    pixels = np.zeros((40, 60, 3), dtype=np.uint8)
    pixels[:, 30:] = 255  # one vertical edge in the middle
    Image.fromarray(pixels).save(tmp_path / "edge.png")
    result = explain("conv", ["sobel-x"], out=tmp_path / "c.png", image=tmp_path / "edge.png")
    assert result.numbers["image_shape"] == [40, 60]
    assert result.numbers["output_shape"] == [40, 60]
    assert result.numbers["output_max"] == pytest.approx(4.0)  # 1+2+1 across a black-to-white edge
    assert result.numbers["tiny_output"] == sliding_window(tiny_input(5), resolve_kernel("sobel-x")[1])[0].tolist()
    assert result.figure.is_file()


def test_unreadable_images_are_one_line_errors(tmp_path):
    (tmp_path / "not.png").write_text("not an image")
    for image, message in ((tmp_path / "missing.png", "no such file"), (tmp_path / "not.png", "not a readable image")):
        with pytest.raises(LayerlabError, match=message):
            explain("padding", out=tmp_path / "p.png", image=image)


def test_conv_size_course_examples():
    assert size_numbers(7, 3, 1, 0)["output"] == 5
    numbers = size_numbers(7, 3, 2, 0)
    assert numbers["output"] == 3
    assert numbers["working"] == "(7 - 3 + 2*0)/2 + 1 = 3"
    assert numbers["window_starts"] == [0, 2, 4]
    with pytest.raises(LayerlabError, match=r"2\.33 is not a whole number; padding 1 makes it fit \(output 3x3\)"):
        size_numbers(7, 3, 3, 0)
    fits = {p["padding"]: p["fits"] for p in size_numbers(7, 3, 3, 1)["paddings"]}
    assert fits == {0: False, 1: True, 2: False, 3: False}
    assert size_numbers(28, 5, 1, 2)["same_padding"] == 2


def test_conv_size_window_starts_agree_with_unfold():
    # the windows a real conv visits: unfold lists them; its count must equal our starts
    n, f, s, p = 11, 3, 2, 1
    windows = F.unfold(torch.zeros(1, 1, n, n), f, stride=s, padding=p).shape[-1]
    assert len(size_numbers(n, f, s, p)["window_starts"]) ** 2 == windows


@pytest.mark.parametrize("mode,torch_mode", [("zero", "constant"), ("reflect", "reflect"), ("replicate", "replicate")])
def test_padding_modes_equal_f_pad(mode, torch_mode):
    numbers = padding_numbers(1)
    tiny = torch.tensor(numbers["tiny"], dtype=torch.float32)[None, None]
    assert numbers["padded"][mode] == F.pad(tiny, (1, 1, 1, 1), mode=torch_mode)[0, 0].to(torch.int64).tolist()
    assert numbers["padded_shape"] == [5, 5]


def test_padding_values_by_hand():
    padded = padding_numbers(1)["padded"]
    assert padded["zero"][0] == [0, 0, 0, 0, 0]
    assert padded["reflect"][0] == [5, 4, 5, 6, 5]  # the border row 1,2,3 is not repeated
    assert padded["replicate"][0] == [1, 1, 2, 3, 3]


def test_padding_topic_grows_the_image_by_twice_the_width(tmp_path):
    result = explain("padding", ["10"], out=tmp_path / "p.png")
    h, w = result.numbers["image_shape"]
    assert result.numbers["padded_image_shape"] == [h + 20, w + 20]
    assert f"({h}x{w}) padded by 10 -> {h + 20}x{w + 20} in every mode" in result.text
    with pytest.raises(LayerlabError, match="smaller than the image"):
        explain("padding", ["500"], out=tmp_path / "p.png")
