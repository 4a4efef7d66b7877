"""pool, activation, softmax and tensor: the course's numbers, checked against torch."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerlab.errors import LayerlabError
from layerlab.viz.explain.activation import activation_numbers, chain_gradient, derivative
from layerlab.viz.explain.pool import COURSE_MATRIX, pool_numbers
from layerlab.viz.explain.softmax import COURSE_LOGITS, softmax_numbers
from layerlab.viz.explain.tensor import tensor_numbers


def test_pool_course_example():
    numbers = pool_numbers(COURSE_MATRIX, 2, 2)
    assert numbers["max"] == [[9, 7], [8, 6]]
    assert numbers["average"] == [[4.25, 4.25], [4.25, 3.5]]
    assert numbers["output_shape"] == [2, 2]
    assert numbers["windows"][0] == "window (0,0): max(2, 2, 9, 4) = 9; average = 17/4 = 4.25"


def test_pool_matches_nn_layers_with_overlapping_windows():
    matrix = torch.arange(25, dtype=torch.float64).reshape(5, 5).remainder(7).tolist()
    numbers = pool_numbers(matrix, 3, 2)
    x = torch.tensor(matrix, dtype=torch.float64)[None, None]
    assert numbers["max"] == nn.MaxPool2d(3, 2)(x)[0, 0].tolist()
    torch.testing.assert_close(torch.tensor(numbers["average"], dtype=torch.float64), nn.AvgPool2d(3, 2)(x)[0, 0])
    assert numbers["output_shape"] == [2, 2]


def test_sigmoid_slope_is_at_most_a_quarter_and_ten_layers_shrink_it_below_a_millionth():
    numbers = activation_numbers()
    assert numbers["max_slope"]["sigmoid"] == pytest.approx(0.25, abs=1e-9)
    assert numbers["max_slope"]["tanh"] == pytest.approx(1.0, abs=1e-9)
    assert numbers["sigmoid_bound_after_depth"] == 0.25**10 == pytest.approx(9.5367431640625e-07)
    assert 0 < numbers["sigmoid_chain_gradient"] < 0.25**10  # after layer 1, sigmoid's input is no longer 0
    assert numbers["relu_chain_gradient"] == 1.0


def test_sigmoid_chain_gradient_is_the_product_of_the_slopes():
    x, product = torch.tensor(0.3, dtype=torch.float64), 1.0
    for _ in range(4):
        s = torch.sigmoid(x)
        product *= float(s * (1 - s))  # sigmoid' = sigmoid (1 - sigmoid)
        x = s
    assert chain_gradient(torch.sigmoid, 4, 0.3) == pytest.approx(product)


def test_course_sigmoid_a_and_b():
    numbers = activation_numbers(a=3.0, b=-2.0)
    course = numbers["table"]["sigmoid(a=3,b=-2)"]
    assert course["value"][3] == pytest.approx(1 / (1 + math.exp(-(3 * 1 - 2))))  # x = 1
    assert numbers["max_slope"]["sigmoid(a=3,b=-2)"] == pytest.approx(3 / 4, abs=1e-6)  # a/4


def test_activation_table_and_slopes_match_closed_forms():
    numbers = activation_numbers()
    x = torch.tensor(numbers["x"], dtype=torch.float64)
    assert numbers["table"]["relu"]["value"] == [0.0, 0.0, 0.0, 1.0, 2.0]
    assert numbers["table"]["leaky_relu"]["slope"][0] == pytest.approx(numbers["leaky_slope"])
    assert numbers["table"]["tanh"]["slope"] == pytest.approx((1 - torch.tanh(x) ** 2).tolist())
    gelu_slope = derivative(F.gelu, x)
    phi = torch.exp(-(x**2) / 2) / math.sqrt(2 * math.pi)
    torch.testing.assert_close(gelu_slope, 0.5 * (1 + torch.erf(x / math.sqrt(2))) + x * phi)


def test_softmax_of_the_course_vector_argmax_is_class_1_not_2():
    numbers = softmax_numbers(COURSE_LOGITS, target=3)
    assert numbers["argmax"] == 1
    expected = torch.softmax(torch.tensor(COURSE_LOGITS, dtype=torch.float64), 0)
    assert numbers["probabilities"] == pytest.approx(expected.tolist())
    assert numbers["probabilities"] == pytest.approx([0.18977, 0.22048, 0.19950, 0.20973, 0.18052], abs=5e-5)
    assert numbers["cross_entropy"] == pytest.approx(-math.log(expected[3].item()))
    assert numbers["cross_entropy"] == pytest.approx(1.56192, abs=5e-5)
    assert numbers["one_hot"] == [0, 0, 0, 1, 0]


def test_softmax_cross_entropy_matches_torch_and_survives_huge_logits():
    numbers = softmax_numbers([2.0, 1.0, 0.1], target=0)
    assert numbers["cross_entropy"] == pytest.approx(F.cross_entropy(torch.tensor([[2.0, 1.0, 0.1]]), torch.tensor([0])).item())
    huge = softmax_numbers([1000.0, 0.0], target=1)
    assert huge["probabilities"] == [1.0, 0.0]
    assert huge["cross_entropy_per_class"] == pytest.approx([0.0, 1000.0])  # finite, so JSON stays valid
    with pytest.raises(LayerlabError, match="class index 0..2"):
        softmax_numbers([1, 2, 3], target=3)


def test_tensor_facts():
    numbers = tensor_numbers()
    ex = numbers["examples"]
    assert (ex["scalar"]["rank"], ex["scalar"]["shape"], ex["scalar"]["dtype"]) == (0, [], "float32")
    assert (ex["vector"]["rank"], ex["vector"]["dtype"]) == (1, "int64")
    assert (ex["image_batch"]["rank"], ex["image_batch"]["dtype"], ex["image_batch"]["numel"]) == (4, "uint8", 8 * 3 * 32 * 32)
    assert numbers["reshape"] == [[0, 1], [2, 3], [4, 5]]
    assert numbers["transpose"] == [[0, 3], [1, 4], [2, 5]]
    assert numbers["transpose_is_contiguous"] is False
    assert numbers["x_plus_b"] == [[11, 22, 33], [14, 25, 36]]
    assert numbers["column_plus_row_shape"] == [3, 4]
    assert numbers["dot"]["value"] == 32 and numbers["dot"]["products"] == [4, 10, 18]
    assert numbers["matmul"]["value"] == [[4, 5], [10, 11]]
    assert numbers["matmul"]["working"][0] == "[0,0] = row 0 · column 0 = 1·1 + 2·0 + 3·1 = 4"
    assert numbers["reshape_chain"] == [[20, 300], [15, 400]]
    assert "must match" in numbers["broadcast_error"]
