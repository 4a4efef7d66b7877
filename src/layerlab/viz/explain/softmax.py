"""`layerlab explain softmax [LOGITS] [--target K]`: probabilities, argmax, cross-entropy.

Course note 000: the model's scores for 5 classes [0.15, 0.3, 0.2, 0.25, 0.1], the answer as a
one-hot vector [0, 0, 0, 1, 0] (class 3), softmax turns scores into probabilities, argmax picks
the predicted class, and the loss says how wrong the prediction is. The note says the argmax
is class 2; the largest value, 0.3, sits at index 1 (counting from 0), so it is class 1.

What to notice: softmax keeps the order of the scores (so argmax is the same before and after)
and cross-entropy only looks at the probability given to the right class: -ln p[target].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from layerlab.errors import LayerlabError
from layerlab.viz.explain.base import Explanation, parse_vector, register_topic
from layerlab.viz.style import figure_style, label, new_figure, save_figure, tr

COURSE_LOGITS = [0.15, 0.3, 0.2, 0.25, 0.1]
COURSE_TARGET = 3  # the note's one-hot answer [0, 0, 0, 1, 0]
MAX_CLASSES = 50
# the correction printed under the course's own example
COURSE_NOTE = {
    "en": ("course note 000 says the argmax of [0.15, 0.3, 0.2, 0.25, 0.1] is class 2; "
           "the largest value 0.3 is at index 1 (counting from 0), so it is class 1"),
    "ko": ("강의 노트 000은 [0.15, 0.3, 0.2, 0.25, 0.1]의 argmax를 클래스 2라고 하지만, "
           "가장 큰 값 0.3은 인덱스 1(0부터 셈)에 있으므로 클래스 1입니다"),
}
USAGE = "layerlab explain softmax [LOGITS...] [--target K]   e.g. softmax 2.0 1.0 0.1 --target 0"

# the figure's title and its caption: what to notice
TITLE = {"en": "Softmax, argmax and cross-entropy", "ko": "소프트맥스, argmax, 교차 엔트로피"}
CAPTION = {
    "en": (
        "Notice that softmax keeps the order of the scores, so the argmax is the same class, and the loss "
        "depends only on the probability given to the right class."
    ),
    "ko": (
        "소프트맥스는 점수의 순서를 바꾸지 않아 argmax가 같은 클래스이고, loss는 정답 클래스에 준 "
        "확률에만 달려 있다는 점에 주목하세요."
    ),
}


def softmax_numbers(logits: Sequence[float], target: int | None = None) -> dict:
    """Probabilities, argmax, and the cross-entropy for the target (and for every possible one)."""
    z = torch.tensor(list(logits), dtype=torch.float64)
    if target is not None and not 0 <= target < len(z):
        raise LayerlabError(f"--target must be a class index 0..{len(z) - 1} (counting from 0), got {target}")
    shifted = z - z.max()  # same probabilities, and exp cannot overflow
    exps = shifted.exp()
    probs = exps / exps.sum()
    numbers = {
        "logits": z.tolist(),
        "exp_shifted": exps.tolist(),
        "probabilities": probs.tolist(),
        "argmax": int(probs.argmax()),
        "cross_entropy_per_class": (-F.log_softmax(z, 0)).tolist(),  # finite even where p rounds to 0
        "target": target,
    }
    if target is not None:
        numbers["one_hot"] = F.one_hot(torch.tensor(target), len(z)).tolist()
        numbers["cross_entropy"] = float(F.cross_entropy(z[None], torch.tensor([target])))
    return numbers


@register_topic(
    "softmax",
    description="logits -> probabilities, argmax, and cross-entropy against a one-hot target "
    "(course vector by default)",
    usage=USAGE,
    options=("target",),
)
def softmax(args: Sequence[str], *, out: Path, lang: str, target: int | None = None) -> Explanation:
    logits = parse_vector(args, "LOGITS") if args else COURSE_LOGITS
    if len(logits) < 2 or len(logits) > MAX_CLASSES:
        raise LayerlabError(f"softmax needs 2..{MAX_CLASSES} scores, got {len(logits)}")
    if not args and target is None:
        target = COURSE_TARGET
    numbers = softmax_numbers(logits, target)
    if logits == COURSE_LOGITS:
        numbers["course_note"] = COURSE_NOTE["en"]
    if out is not None:  # None: --no-figure, the numbers and the working only
        _draw(out, lang, numbers)
    return Explanation("softmax", text_of(numbers, lang), numbers, out)


def text_of(numbers: dict, lang: str = "en") -> str:
    z, p = numbers["logits"], numbers["probabilities"]
    k = numbers["argmax"]
    top = max(z)
    total, best = f"{sum(numbers['exp_shifted']):.4f}", f"{p[k]:.4f}"
    lines = [
        "logits z:        " + "  ".join(f"{v:8.4g}" for v in z),
        f"exp(z - {top:g}):   " + "  ".join(f"{v:8.4f}" for v in numbers["exp_shifted"]) + f"   sum = {total}",
        "softmax p = exp/sum: " + "  ".join(f"{v:.4f}" for v in p) + tr(lang, f"   (sums to {sum(p):.4f})",
                                                                         f"   (합계 {sum(p):.4f})"),
        tr(lang, f"argmax = class {k} (counting from 0): the largest score {z[k]:g} gets the largest probability {best}",
           f"argmax = 클래스 {k} (0부터 셈): 가장 큰 점수 {z[k]:g}의 확률이 가장 큼 ({best})"),
    ]
    if numbers.get("course_note"):
        lines.append(tr(lang, "note: ", "참고: ") + COURSE_NOTE[lang])
    t = numbers["target"]
    if t is not None:
        verdict = tr(lang, "right", "맞았습니다") if k == t else tr(lang, "wrong", "틀렸습니다")
        lines += [
            tr(lang, f"target class {t}, one-hot {numbers['one_hot']}", f"정답 클래스 {t}, 원-핫 {numbers['one_hot']}"),
            tr(lang, "cross-entropy", "교차 엔트로피")
            + f" = -sum(one_hot · ln p) = -ln p[{t}] = -ln {p[t]:.4f} = {numbers['cross_entropy']:.4f}",
            tr(lang, f"  the prediction is {verdict}: argmax {k} vs target {t}",
               f"  예측이 {verdict}: argmax {k} 대 정답 {t}"),
        ]
        if all(0 <= v <= 1 for v in z) and math.isclose(sum(z), 1.0, abs_tol=1e-9):
            direct = f"{-math.log(z[t]) if z[t] > 0 else math.inf:.4f}"
            lines.append(tr(lang, f"  (these scores already sum to 1; read as probabilities, -ln {z[t]:g} = {direct})",
                            f"  (이 점수들은 이미 합이 1이므로 확률로 읽으면 -ln {z[t]:g} = {direct})"))
    per = ", ".join(f"{i}: {v:.3f}" for i, v in enumerate(numbers["cross_entropy_per_class"]))
    lines.append(tr(lang, f"cross-entropy if the answer were class ... {per}", f"정답이 각 클래스일 때의 교차 엔트로피 ... {per}"))
    return "\n".join(lines)


def _draw(out: Path, lang: str, numbers: dict) -> None:
    z, p, k, t = numbers["logits"], numbers["probabilities"], numbers["argmax"], numbers["target"]
    classes = list(range(len(z)))
    colours = ["tab:orange" if i == k else "tab:blue" for i in classes]
    with figure_style(lang):
        fig, ax = new_figure(1, 3, (12.0, 4.8))
        ax[0, 0].bar(classes, z, color=colours)
        label(ax[0, 0], tr(lang, f"logits (argmax = class {k})", f"로짓 (logit, argmax = 클래스 {k})"),
              tr(lang, "class (counting from 0)", "클래스 (0부터)"), tr(lang, "score", "점수"))
        ax[0, 1].bar(classes, p, color=colours)
        for i, v in enumerate(p):
            ax[0, 1].text(i, v, f"{v:.3f}", ha="center", va="bottom", fontsize=8)
        if t is not None:
            answer = tr(lang, f"target {t} (one-hot)", f"정답 {t} (원-핫)")
            ax[0, 1].bar([t], [1.0], fill=False, ec="tab:green", lw=2, ls="--", label=answer)
            ax[0, 1].legend(fontsize=8)
        label(ax[0, 1], tr(lang, "softmax probabilities", "소프트맥스 확률 (softmax)"),
              tr(lang, "class (counting from 0)", "클래스 (0부터)"), tr(lang, "probability", "확률"))
        grid = [i / 200 for i in range(1, 201)]
        ax[0, 2].plot(grid, [-math.log(q) for q in grid], color="0.3")
        if t is not None:
            ax[0, 2].plot([p[t]], [numbers["cross_entropy"]], "o", color="tab:green", ms=8)
            ax[0, 2].annotate(f"-ln {p[t]:.3f} = {numbers['cross_entropy']:.3f}", (p[t], numbers["cross_entropy"]),
                              textcoords="offset points", xytext=(8, 8), fontsize=9)
        label(ax[0, 2], tr(lang, "cross-entropy -ln p[target]", "교차 엔트로피 (cross entropy) -ln p[정답]"),
              tr(lang, "probability given to the right class", "정답 클래스의 확률"), tr(lang, "loss", "손실 (loss)"))
        for panel in ax.flat:
            panel.grid(alpha=0.3)
        save_figure(fig, out, TITLE[lang], CAPTION[lang], lang)
