"""`layerlab explain iou [X1 Y1 X2 Y2 X1 Y1 X2 Y2]`: intersection over union of two boxes, worked out.

Course unit: object detection. IoU = area(A ∩ B) / area(A ∪ B) decides whether a detection found
an object (IoU >= 0.5 in Pascal VOC), which proposals train as objects, and which boxes NMS removes.
What to notice: the default boxes are the same 10x10 square shifted by a third of its side, and
their IoU is already only 0.5: overlap is a strict judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from layerlab.boxes import box_iou
from layerlab.errors import LayerlabError
from layerlab.viz.explain.base import Explanation, parse_vector, register_topic
from layerlab.viz.style import figure_style, new_figure, save_figure, tr

DEFAULT = (0.0, 0.0, 10.0, 10.0, 3.333, 0.0, 13.333, 10.0)
USAGE = "layerlab explain iou [X1 Y1 X2 Y2 X1 Y1 X2 Y2]   (two boxes; default: a 10x10 square and itself moved 3.33 right)"


def iou_numbers(a: Sequence[float], b: Sequence[float]) -> dict:
    """Both areas, the intersection's corners and area, the union, and IoU (checked against layerlab.boxes)."""
    ix1, iy1, ix2, iy2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(ix2 - ix1, 0) * max(iy2 - iy1, 0)
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    union = area_a + area_b - inter
    iou = inter / union if union > 0 else 0.0
    check = float(box_iou(torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64))[0, 0])
    assert abs(check - iou) < 1e-9
    return {"a": list(a), "b": list(b), "area_a": area_a, "area_b": area_b, "intersection": [ix1, iy1, ix2, iy2],
            "intersection_area": inter, "union_area": union, "iou": iou, "found_at_0.5": iou >= 0.5}


@register_topic("iou", description="intersection over union of two boxes: when a detection counts as found", usage=USAGE)
def iou(args: Sequence[str], *, out: Path, lang: str) -> Explanation:
    values = parse_vector(args, "X1 Y1 X2 Y2 X1 Y1 X2 Y2") if args else list(DEFAULT)
    if len(values) != 8:
        raise LayerlabError(f"give two boxes as 8 numbers, x1 y1 x2 y2 for each (usage: {USAGE})")
    a, b = values[:4], values[4:]
    for name, box in (("first", a), ("second", b)):
        if box[2] <= box[0] or box[3] <= box[1]:
            raise LayerlabError(f"the {name} box {box} needs x2 > x1 and y2 > y1")
    n = iou_numbers(a, b)
    if out is not None:  # None: --no-figure, the numbers and the working only
        _draw(out, lang, n)
    text = text_of(n, lang)
    return Explanation("iou", text, n, out)


def text_of(n: dict, lang: str = "en") -> str:
    a, b = n["a"], n["b"]
    hit = tr(lang, "a hit" if n["found_at_0.5"] else "a miss", "맞음" if n["found_at_0.5"] else "놓침")
    return "\n".join([
        tr(lang, f"A = {a}, area {n['area_a']:g};  B = {b}, area {n['area_b']:g}",
           f"A = {a}, 넓이 {n['area_a']:g};  B = {b}, 넓이 {n['area_b']:g}"),
        tr(lang, f"A ∩ B = {[round(v, 3) for v in n['intersection']]}, area {n['intersection_area']:g}",
           f"A ∩ B (교집합) = {[round(v, 3) for v in n['intersection']]}, 넓이 {n['intersection_area']:g}"),
        tr(lang, "A ∪ B", "A ∪ B (합집합)") + f" = {n['area_a']:g} + {n['area_b']:g} - {n['intersection_area']:g} = {n['union_area']:g}",
        f"IoU = {n['intersection_area']:g} / {n['union_area']:g} = {n['iou']:.4f}"
        + tr(lang, f"  ({hit} at Pascal VOC's 0.5)", f"  (Pascal VOC 기준 0.5에서 {hit})")])


def _draw(out: Path, lang: str, n: dict) -> None:
    from matplotlib.patches import Rectangle

    with figure_style(lang):
        fig, ax = new_figure(1, 1, (5.5, 5.0))
        ax = ax[0, 0]
        for box, colour, name in ((n["a"], "C0", "A"), (n["b"], "C1", "B")):
            ax.add_patch(Rectangle(box[:2], box[2] - box[0], box[3] - box[1], fill=False, edgecolor=colour, lw=2, label=name))
        i = n["intersection"]
        if n["intersection_area"] > 0:
            ax.add_patch(Rectangle(i[:2], i[2] - i[0], i[3] - i[1], color="C2", alpha=0.4, label="A ∩ B"))
        xs, ys = n["a"][0::2] + n["b"][0::2], n["a"][1::2] + n["b"][1::2]
        ax.set(xlim=(min(xs) - 1, max(xs) + 1), ylim=(max(ys) + 1, min(ys) - 1), aspect="equal")
        ax.legend(fontsize=8)
        title = f"IoU = {n['intersection_area']:g} / {n['union_area']:g} = {n['iou']:.3f}"
        caption = tr(lang, "Notice that a box shifted by a third of its width keeps only IoU 0.5: the line Pascal VOC "
                     "draws between a hit and a miss.", "상자를 폭의 1/3만 옮겨도 IoU는 0.5로 떨어진다는 점에 주목하세요: "
                     "Pascal VOC가 맞음과 틀림을 가르는 기준입니다.")
        save_figure(fig, out, title, caption, lang)
