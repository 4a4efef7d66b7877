"""`layerlab explain nms [THRESHOLD]`: non-maximum suppression, box by box.

Course unit: object detection. A detector scores many overlapping regions on one object; NMS keeps
the highest-scoring box, removes every box that overlaps it by IoU > threshold, and repeats with
what is left. What to notice: boxes on *different* objects survive however high their neighbour's
score, while the duplicates of one object collapse to one; too low a threshold would also remove
a real neighbour, too high one would keep duplicates (each a false positive in mAP).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from layerlab.boxes import box_iou, nms_steps
from layerlab.errors import LayerlabError
from layerlab.viz.explain.base import Explanation, parse_float, register_topic
from layerlab.viz.style import figure_style, new_figure, save_figure, tr

USAGE = "layerlab explain nms [THRESHOLD]   (IoU above which a lower-scoring box is removed; default 0.5)"
# two objects, each found several times, and one lone box
BOXES = [[10, 10, 50, 60], [14, 12, 54, 62], [8, 6, 46, 58], [60, 20, 100, 70], [64, 24, 102, 72], [30, 70, 60, 95]]
SCORES = [0.92, 0.85, 0.60, 0.88, 0.70, 0.40]


def nms_numbers(threshold: float) -> dict:
    boxes, scores = torch.tensor(BOXES, dtype=torch.float64), torch.tensor(SCORES, dtype=torch.float64)
    kept, steps = nms_steps(boxes, scores, threshold)
    ious = box_iou(boxes, boxes)
    return {"threshold": threshold, "boxes": BOXES, "scores": SCORES, "kept": kept.tolist(),
            "steps": [{"kept": k, "score": SCORES[k], "removed": [{"box": r, "score": SCORES[r], "iou": round(float(ious[k, r]), 4)}
                                                                  for r in removed]} for k, removed in steps]}


@register_topic("nms", description="non-maximum suppression: duplicates removed step by step", usage=USAGE)
def nms(args: Sequence[str], *, out: Path, lang: str) -> Explanation:
    if len(args) > 1:
        raise LayerlabError(f"give at most one number, the IoU threshold (usage: {USAGE})")
    threshold = parse_float(args[0], "THRESHOLD") if args else 0.5
    if not 0 <= threshold <= 1:
        raise LayerlabError(f"THRESHOLD is an IoU, between 0 and 1; got {threshold:g}")
    n = nms_numbers(threshold)
    if out is not None:  # None: --no-figure, the numbers and the working only
        _draw(out, lang, n)
    return Explanation("nms", text_of(n, lang), n, out)


def text_of(n: dict, lang: str = "en") -> str:
    threshold = n["threshold"]
    lines = [tr(lang, f"{len(n['boxes'])} boxes, scores {n['scores']}; threshold IoU > {threshold:g} removes",
                f"상자 {len(n['boxes'])}개, 점수 {n['scores']}; IoU > {threshold:g}이면 지웁니다")]
    for i, step in enumerate(n["steps"], 1):
        gone = ", ".join(tr(lang, f"box {r['box']}", f"상자 {r['box']}") + f" ({r['score']:.2f}, IoU {r['iou']:.3f})"
                         for r in step["removed"]) or tr(lang, "nothing", "없음")
        lines.append(tr(lang, f"step {i}: keep box {step['kept']} (score {step['score']:.2f}); remove {gone}",
                        f"{i}단계: 상자 {step['kept']} 유지 (점수 {step['score']:.2f}); 지움: {gone}"))
    lines.append(tr(lang, f"kept: {n['kept']}", f"남은 상자: {n['kept']}"))
    return "\n".join(lines)


def _draw(out: Path, lang: str, n: dict) -> None:
    from matplotlib.patches import Rectangle

    steps = n["steps"]
    with figure_style(lang):
        fig, axes = new_figure(1, len(steps) + 1, (3.4 * (len(steps) + 1), 4.8))
        gone: set[int] = set()
        for col in range(len(steps) + 1):
            ax = axes[0, col]
            for i, (box, score) in enumerate(zip(n["boxes"], n["scores"])):
                kept_now = i in [s["kept"] for s in steps[:col]]
                style = {"edgecolor": "C2" if kept_now else "0.7" if i in gone else "C0", "lw": 2.2 if kept_now else 1,
                         "ls": ":" if i in gone else "-"}
                ax.add_patch(Rectangle(box[:2], box[2] - box[0], box[3] - box[1], fill=False, **style))
                ax.text(box[0] + 1, box[1] + 5, f"{i}: {score:.2f}", fontsize=7, color=style["edgecolor"])
            ax.set(xlim=(0, 110), ylim=(100, 0), aspect="equal", xticks=[], yticks=[])
            ax.set_title(tr(lang, "start", "시작") if col == 0 else tr(lang, f"step {col}: keep {steps[col - 1]['kept']}",
                                                                      f"{col}단계: {steps[col - 1]['kept']} 유지"), fontsize=9)
            if col < len(steps):
                gone |= {r["box"] for r in steps[col]["removed"]}
        title = tr(lang, f"NMS at IoU > {n['threshold']:g}: kept {n['kept']}", f"NMS (IoU > {n['threshold']:g}): 남은 상자 {n['kept']}")
        caption = tr(lang, "Notice that each step keeps the best remaining box (green) and greys out the boxes that overlap "
                     "it too much; boxes on other objects survive.", "각 단계는 남은 상자 중 점수가 가장 높은 것(초록)을 "
                     "남기고 그와 많이 겹치는 상자를 지운다는 점에 주목하세요. 다른 물체 위의 상자는 살아남습니다.")
        save_figure(fig, out, title, caption, lang)
