"""`layerlab explain tensor`: rank, shape, dtype, broadcasting, dot product, reshape vs transpose.

Course note 001: a tensor is a container of numbers; a scalar is a 0-D tensor, a vector 1-D, a
matrix 2-D; after loading data, always check its size, its number of axes and its type.
Broadcasting stretches the smaller operand along the missing axis; a dot product multiplies
element by element and sums; reshape keeps the number of elements (300x20 -> 20x300 ->
15x400) while transpose swaps rows and columns.

What to notice: reshape(3, 2) and transpose give the same shape but different orders: reshape
refills rows in reading order, transpose turns rows into columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from layerlab.viz.explain.base import Explanation, expect_at_most, format_matrix, pad, register_topic
from layerlab.viz.style import figure_style, label, new_figure, save_figure, show_matrix, tr

USAGE = "layerlab explain tensor"

# the figure's title and its caption: what to notice
TITLE = {
    "en": "Tensors: shape, broadcasting, dot product, reshape vs transpose",
    "ko": "텐서: shape, 브로드캐스팅, 내적, reshape와 transpose",
}
CAPTION = {
    "en": (
        "Notice that reshape(3, 2) and the transpose have the same shape but a different order, and that "
        "broadcasting copies b into the red row it was missing."
    ),
    "ko": (
        "reshape(3, 2)와 전치(transpose)는 shape은 같지만 순서가 다르고, "
        "브로드캐스팅은 빠진 빨간 행에 b를 복사한다는 점에 주목하세요."
    ),
}

# the examples' names in the Korean text
NAMES_KO = {"scalar": "스칼라", "vector": "벡터", "matrix": "행렬", "3d": "3D 텐서", "image_batch": "이미지 배치"}


def _describe(t: Tensor) -> dict:
    return {"rank": t.dim(), "shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch."), "numel": t.numel()}


def tensor_numbers() -> dict:
    """Small examples of every tensor fact the course lists, computed by torch."""
    examples = {
        "scalar": torch.tensor(3.5),
        "vector": torch.tensor([1, 2, 3]),
        "matrix": torch.arange(6).reshape(2, 3),
        "3d": torch.zeros(2, 3, 4),
        "image_batch": torch.zeros(8, 3, 32, 32, dtype=torch.uint8),  # (B, C, H, W), as loaded
    }
    a = torch.arange(6).reshape(2, 3)  # [[0, 1, 2], [3, 4, 5]]
    x = torch.tensor([[1, 2, 3], [4, 5, 6]])
    b = torch.tensor([10, 20, 30])
    u, v = torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6])
    m = torch.tensor([[1, 0], [0, 1], [1, 1]])
    column, row = torch.tensor([[0], [10], [20]]), torch.tensor([[1, 2, 3, 4]])
    data = torch.zeros(300, 20)  # the course's reshape example: 6,000 numbers in any shape
    return {
        "examples": {name: _describe(t) for name, t in examples.items()},
        "a": a.tolist(),
        "reshape": a.reshape(3, 2).tolist(),
        "transpose": a.T.tolist(),
        "transpose_is_contiguous": a.T.is_contiguous(),
        "reshape_chain": [list(data.reshape(20, 300).shape), list(data.reshape(15, 400).shape)],
        "x": x.tolist(), "b": b.tolist(), "x_plus_b": (x + b).tolist(),
        "column_plus_row": (column + row).tolist(), "column_plus_row_shape": list((column + row).shape),
        "dot": {"u": u.tolist(), "v": v.tolist(), "products": (u * v).tolist(), "value": int(torch.dot(u, v))},
        "matmul": {"x": x.tolist(), "m": m.tolist(), "value": (x @ m).tolist(), "shape": list((x @ m).shape),
                   "working": [_matmul_cell(x, m, i, j) for i in range(2) for j in range(2)]},
        "broadcast_error": _broadcast_error(),
    }


def _matmul_cell(x: Tensor, m: Tensor, i: int, j: int, lang: str = "en") -> str:
    terms = " + ".join(f"{int(p)}·{int(q)}" for p, q in zip(x[i], m[:, j]))
    where = tr(lang, f"row {i} · column {j}", f"{i}행 · {j}열")
    return f"[{i},{j}] = {where} = {terms} = {int(x[i] @ m[:, j])}"


def _broadcast_error() -> str:
    try:
        torch.zeros(2, 3) + torch.zeros(2)
    except RuntimeError as err:
        return str(err).splitlines()[0]
    raise AssertionError("(2, 3) + (2,) broadcast, which torch never does")


@register_topic(
    "tensor",
    description="rank, shape, dtype, broadcasting, dot product, reshape vs transpose on small examples",
    usage=USAGE,
)
def tensor(args: Sequence[str], *, out: Path, lang: str) -> Explanation:
    expect_at_most(args, 0, USAGE)
    numbers = tensor_numbers()
    if out is not None:  # None: --no-figure, the numbers and the working only
        _draw(out, lang, numbers)
    return Explanation("tensor", text_of(numbers, lang), numbers, out)


def text_of(numbers: dict, lang: str = "en") -> str:
    lines = [tr(lang, "rank (number of axes), shape, dtype:", "랭크(축의 개수), shape, dtype:")]
    for name, d in numbers["examples"].items():
        shape = tuple(d["shape"])
        lines.append(tr(lang, f"  {name:<12} rank {d['rank']}, shape {shape}, {d['dtype']}, {d['numel']} elements",
                        f"  {pad(NAMES_KO[name], 12)} 랭크 {d['rank']}, shape {shape}, {d['dtype']}, 원소 {d['numel']}개"))
    dot, matmul = numbers["dot"], numbers["matmul"]
    terms = " + ".join(f"{p}·{q}" for p, q in zip(dot["u"], dot["v"]))
    x, m = torch.tensor(matmul["x"]), torch.tensor(matmul["m"])
    chain = " -> ".join(str(tuple(shape)) for shape in numbers["reshape_chain"])
    product = tuple(matmul["shape"])
    contiguous = numbers["transpose_is_contiguous"]
    lines += [
        tr(lang, "broadcasting: x (2, 3) + b (3,): b is repeated for every row",
           "브로드캐스팅: x (2, 3) + b (3,): b가 모든 행에 반복됩니다"),
        format_matrix(numbers["x_plus_b"]),
        f"  (3, 1) + (1, 4) -> {tuple(numbers['column_plus_row_shape'])}:",
        format_matrix(numbers["column_plus_row"]),
        tr(lang, "  (2, 3) + (2,) fails: ", "  (2, 3) + (2,)는 실패합니다: ") + numbers["broadcast_error"],
        tr(lang, "dot product", "내적") + f" {dot['u']} · {dot['v']} = {terms} = {dot['value']}",
        tr(lang, f"matrix product (2, 3) @ (3, 2) -> {product}: every entry is a dot product",
           f"행렬곱 (2, 3) @ (3, 2) -> {product}: 모든 원소가 하나의 내적입니다"),
        *("  " + _matmul_cell(x, m, i, j, lang) for i in range(2) for j in range(2)),
        "a = arange(6).reshape(2, 3):",
        format_matrix(numbers["a"]),
        tr(lang, "a.reshape(3, 2) refills rows in reading order:", "a.reshape(3, 2)는 읽는 순서대로 행을 다시 채웁니다:"),
        format_matrix(numbers["reshape"]),
        tr(lang, f"a.T swaps rows and columns (same shape, different order; contiguous: {contiguous}):",
           f"a.T는 행과 열을 바꿉니다 (shape은 같고 순서가 다름; contiguous: {contiguous}):"),
        format_matrix(numbers["transpose"]),
        tr(lang, "reshape keeps the element count: (300, 20) -> ", "reshape는 원소 개수를 유지합니다: (300, 20) -> ") + chain,
    ]
    return "\n".join(lines)


def _draw(out: Path, lang: str, numbers: dict) -> None:
    dot = numbers["dot"]
    with figure_style(lang):
        fig, ax = new_figure(2, 4, (13.0, 6.6))
        show_matrix(ax[0, 0], numbers["a"], tr(lang, "a: rank 2, shape (2, 3), int64", "a: 랭크 2, shape (2, 3), int64"),
                    lang)
        show_matrix(ax[0, 1], numbers["reshape"], "a.reshape(3, 2)", lang, cmap="Greens")
        show_matrix(ax[0, 2], numbers["transpose"], tr(lang, "a.T (transpose)", "a.T (전치 transpose)"), lang,
                    cmap="Oranges")
        ax[0, 3].bar(range(3), dot["products"], color=["C0", "C1", "C2"])
        for i, (p, q) in enumerate(zip(dot["u"], dot["v"])):
            ax[0, 3].text(i, p * q, f"{p}·{q} = {p * q}", ha="center", va="bottom", fontsize=8)
        ax[0, 3].set_xticks(range(3))
        ax[0, 3].set_ylim(0, max(dot["products"]) * 1.2)  # room for the labels above the bars
        title = f"[1,2,3]·[4,5,6] = {dot['value']}"
        label(ax[0, 3], tr(lang, f"dot product {title}", f"내적 (dot product) {title}"),
              tr(lang, "element index", "원소 번호"), tr(lang, "product u_i·v_i", "곱 u_i·v_i"))
        show_matrix(ax[1, 0], numbers["x"], "x (2, 3)", lang)
        title = tr(lang, "b (3,) broadcast to (2, 3)", "b (3,) → (2, 3) 브로드캐스팅")
        copied = [(1, 0, 1, 3, "tab:red")]  # the row broadcasting adds
        show_matrix(ax[1, 1], [numbers["b"], numbers["b"]], title, lang, cmap="Purples", highlight=copied)
        show_matrix(ax[1, 2], numbers["x_plus_b"], "x + b (2, 3)", lang, cmap="Greens")
        title = tr(lang, "x @ m: (2, 3) @ (3, 2) = (2, 2)", "행렬곱 x @ m: (2, 3) @ (3, 2) = (2, 2)")
        show_matrix(ax[1, 3], numbers["matmul"]["value"], title, lang, cmap="Oranges")
        save_figure(fig, out, TITLE[lang], CAPTION[lang], lang)
