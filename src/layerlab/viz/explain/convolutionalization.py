"""`layerlab explain convolutionalization [N]`: the course's CIFAR classifier with its FC layers as convs.

Course note 004 (semantic segmentation): "we want to get rid of the dense layers: this is called
convolutionalization ... with a fully convolutional network, a bigger image no longer gets one
label but a semantic map".

What to notice: nothing is retrained. fc1 reads the 256 feature maps of 4x4 flattened into 4,096
numbers; a 4x4 conv with 256 input channels reads the same 4,096 numbers with the same weights,
reshaped from (2048, 4096) to (2048, 256, 4, 4). fc2 and fc3 read vectors and become 1x1 convs. On
a 32x32 image the logits are the same; on an N x N image the convs slide, and the net gives a
(10, (N/8 - 4) + 1, ...) map of class scores, one for each 32x32 window, every 8 pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from layerlab.errors import LayerlabError
from layerlab.arithmetic import conv_working
from layerlab.models import get_model
from layerlab.models.fcn import convolutionalize
from layerlab.viz.explain.base import Explanation, expect_at_most, parse_int, register_topic
from layerlab.viz.style import figure_style, label_image, new_figure, save_figure, tr

USAGE = "layerlab explain convolutionalization [N]   (the larger image's side, a multiple of 8 from 32 to 256; default 64)"
TITLE = {"en": "Convolutionalization: the classifier's FC layers as convolutions",
         "ko": "합성곱화 (Convolutionalization): 분류기의 완전 연결 층을 합성곱 층으로"}
CAPTION = {
    "en": ("Notice that the weights are the same numbers in another shape, so a 32x32 image gets the same logits; "
           "a larger image gets a map of class scores, one per 32x32 window, every 8 pixels."),
    "ko": ("가중치는 모양만 바뀐 같은 숫자라서 32x32 이미지의 로짓은 그대로이고, 더 큰 이미지에서는 "
           "8 픽셀마다 32x32 창 하나당 클래스 점수가 나오는 점수 지도가 된다는 점에 주목하세요."),
}
TRAIN_SIZE = 32      # the course's CIFAR-10 images


def course_net(seed: int = 0) -> nn.Module:
    """The course's cifar-cnn (9,457,962 parameters), with weights drawn from a generator seeded `seed`
    (He-scaled normal; torch's global random state is left alone). Any weights make the point."""
    with torch.device("meta"):             # shapes only: the weights are drawn below, from our own generator
        model = get_model("cifar-cnn")
    model = model.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 1
            p.normal_(0.0, math.sqrt(2 / fan_in) if p.dim() > 1 else 0.01, generator=generator)
    return model.eval()


def convolutionalization_numbers(n: int = 64, seed: int = 0) -> dict:
    """Each FC layer and its conv twin, the parameter counts, the logits at 32x32 and the map's size at n x n."""
    classifier = course_net(seed)
    fcn = convolutionalize(classifier, image_size=TRAIN_SIZE).eval()
    convs = dict(fcn.classifier.named_children())
    layers = [{"name": name, "linear": list(layer.weight.shape), "conv": list(convs[name].weight.shape),
               "weights": layer.weight.numel()}
              for name, layer in classifier.classifier.named_children() if isinstance(layer, nn.Linear)]
    images = torch.randn(2, 3, TRAIN_SIZE, TRAIN_SIZE, generator=torch.Generator().manual_seed(seed + 1))
    big = torch.randn(1, 3, n, n, generator=torch.Generator().manual_seed(seed + 2))
    with torch.no_grad():
        logits, scores = classifier(images), fcn(images)                       # (2, 10) and (2, 10, 1, 1)
        score_map = fcn(big)                                                   # (1, 10, h, w)
    side = n // 8                                                              # three 2x2 pools
    return {"n": n, "params_classifier": sum(p.numel() for p in classifier.parameters()),
            "params_fcn": sum(p.numel() for p in fcn.parameters()), "layers": layers,
            "features": [256, side, side], "logits_shape": list(logits.shape), "scores_shape": list(scores.shape),
            "max_difference": float((scores.flatten(1) - logits).abs().max()),
            "map_shape": list(score_map.shape[1:]), "map_working": conv_working(side, 4, 1, 0)}


@register_topic(
    "convolutionalization",
    description="a classifier's Linear layers become convs with the same weights: same logits, then score maps",
    usage=USAGE,
)
def convolutionalization(args: Sequence[str], *, out: Path, lang: str) -> Explanation:
    expect_at_most(args, 1, USAGE)
    n = parse_int(args[0], "N (image side)", 1) if args else 64
    if n % 8 or not TRAIN_SIZE <= n <= 256:
        raise LayerlabError(f"N must be a multiple of 8 from 32 to 256 (three 2x2 poolings), got {n}")
    numbers = convolutionalization_numbers(n)
    if out is not None:  # None: --no-figure, the numbers and the working only
        _draw(out, lang, numbers)
    return Explanation("convolutionalization", text_of(numbers, lang), numbers, out)


def text_of(numbers: dict, lang: str = "en") -> str:
    n, (h, w) = numbers["n"], numbers["map_shape"][1:]
    lines = [tr(lang, "the course's CIFAR net (cifar-cnn): a 32x32 image -> features 256@4x4 -> flatten 4,096 -> fc1 -> fc2 -> fc3",
                "강의의 CIFAR 신경망 (cifar-cnn): 32x32 이미지 -> 특징 맵 256@4x4 -> flatten 4,096 -> fc1 -> fc2 -> fc3")]
    for layer in numbers["layers"]:
        linear, conv, count = tuple(layer["linear"]), tuple(layer["conv"]), f"{layer['weights']:,}"
        lines.append(tr(lang, f"{layer['name']}: Linear weight {linear} -> Conv2d weight {conv}: the same {count} numbers, reshaped",
                        f"{layer['name']}: Linear 가중치 {linear} -> Conv2d 가중치 {conv}: 같은 숫자 {count}개, 모양만 바꿈"))
    before, after = f"{numbers['params_classifier']:,}", f"{numbers['params_fcn']:,}"
    logits, scores = tuple(numbers["logits_shape"]), tuple(numbers["scores_shape"])
    difference, working, score_map = f"{numbers['max_difference']:.1e}", numbers["map_working"], tuple(numbers["map_shape"])
    lines += [tr(lang, f"parameters: {before} before, {after} after", f"파라미터: 바꾸기 전 {before}개, 바꾼 뒤 {after}개"),
              tr(lang, f"32x32 images: logits {logits} vs scores {scores}; largest difference {difference} (float rounding)",
                 f"32x32 이미지: 로짓 {logits} 대 점수 {scores}; 가장 큰 차이 {difference} (부동소수점 반올림)"),
              tr(lang, f"{n}x{n} image: features 256@{n // 8}x{n // 8}; the 4x4 fc1 conv fits {working} times a side "
                       f"-> a score map {score_map}: {h}x{w} windows of 32x32, every 8 pixels",
                 f"{n}x{n} 이미지: 특징 맵 256@{n // 8}x{n // 8}; 4x4 fc1 합성곱은 한 변에 {working}번 들어감 "
                 f"-> 점수 지도 {score_map}: 8 픽셀 간격의 32x32 창 {h}x{w}개")]
    return "\n".join(lines)


def _draw(out: Path, lang: str, numbers: dict) -> None:
    n, (h, w) = numbers["n"], numbers["map_shape"][1:]
    with figure_style(lang):
        fig, ax = new_figure(1, 2, (12.0, 6.0))
        _diagram(ax[0, 0], lang, numbers)
        _windows(ax[0, 1], lang, n, h, w)
        save_figure(fig, out, TITLE[lang], CAPTION[lang], lang)


def _diagram(ax, lang: str, numbers: dict) -> None:
    """Two columns of boxes, top to bottom: the classifier (Linear) and the convolutionalized net (Conv2d)."""
    n, (h, w) = numbers["n"], numbers["map_shape"][1:]
    side = n // 8
    columns = [(tr(lang, "classifier (32x32)", "분류기 (32x32)"),
                [tr(lang, "image", "이미지") + " 3@32x32", tr(lang, "features", "특징 맵") + " 256@4x4", "flatten: 4096",
                 "fc1 Linear: 2048", "fc2 Linear: 256", "fc3 Linear: 10 " + tr(lang, "logits", "로짓")]),
               (tr(lang, f"convolutionalized ({n}x{n})", f"합성곱화 ({n}x{n})"),
                [tr(lang, "image", "이미지") + f" 3@{n}x{n}", tr(lang, "features", "특징 맵") + f" 256@{side}x{side}",
                 tr(lang, "(no flatten)", "(flatten 없음)"),
                 f"fc1 conv 4x4: 2048@{h}x{w}", f"fc2 conv 1x1: 256@{h}x{w}", f"fc3 conv 1x1: 10@{h}x{w}"])]
    for c, (title, boxes) in enumerate(columns):
        ax.text(c, 0.8, title, ha="center", fontsize=10)
        for r, text in enumerate(boxes):
            ax.text(c, -r, text, ha="center", va="center", fontsize=9,
                    bbox={"boxstyle": "round", "fc": "tab:blue" if c == 0 else "tab:green", "alpha": 0.25})
            if r and "(" not in boxes[r - 1][:1]:
                ax.annotate("", xy=(c, -r + 0.25), xytext=(c, -r + 0.75), arrowprops={"arrowstyle": "->"})
    for r in (3, 4, 5):                                 # the same weights, reshaped
        ax.annotate("", xy=(0.68, -r), xytext=(0.32, -r), arrowprops={"arrowstyle": "->", "color": "tab:red"})
    ax.text(0.5, -2.55, tr(lang, "same weights:\n(2048, 4096) -> (2048, 256, 4, 4)",
                           "같은 가중치:\n(2048, 4096) -> (2048, 256, 4, 4)"), ha="center", fontsize=8, color="tab:red")
    ax.set_xlim(-0.55, 1.55)
    ax.set_ylim(-5.6, 1.1)
    ax.axis("off")
    ax.set_title(tr(lang, "Linear -> Conv2d, top to bottom", "Linear -> Conv2d, 위에서 아래로"))


def _windows(ax, lang: str, n: int, h: int, w: int) -> None:
    """An n x n picture with the 32x32 windows that three of the score map's positions see."""
    from matplotlib.patches import Rectangle
    from sklearn.datasets import load_sample_image

    photo = torch.from_numpy(load_sample_image("flower.jpg").copy()).permute(2, 0, 1)[None].float() / 255
    picture = F.interpolate(photo, size=(n, n), mode="area")[0].permute(1, 2, 0)     # (n, n, 3)
    ax.imshow(picture.numpy())
    for (i, j), colour in zip([(0, 0), (h // 2, w // 2), (h - 1, w - 1)], ("tab:red", "yellow", "tab:cyan")):
        ax.add_patch(Rectangle((8 * j - 0.5, 8 * i - 0.5), 32, 32, fill=False, lw=2, ec=colour))
    starts = [8 * k for k in range(h)]
    ax.scatter([x + 15.5 for x in starts for _ in starts], [y + 15.5 for _ in starts for y in starts], s=6, c="white")
    label_image(ax, tr(lang, f"{n}x{n}: {h}x{w} scores, one per 32x32 window (dots: centres)",
                       f"{n}x{n}: 32x32 창마다 점수 하나, {h}x{w}개 (점: 중심)"), lang)
