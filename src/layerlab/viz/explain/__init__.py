"""`layerlab explain TOPIC`: every course concept as numbers and a picture.

Each topic lives in its own module and registers itself with `@register_topic`; MODULES below
names each topic's module, so the registry holds exactly these topics. A topic's module is
imported when it is asked for: `layerlab explain conv-size 7 3 1 0` is arithmetic and imports
neither torch nor the other topics. `explain()` looks a topic up, checks the options, and returns
an `Explanation` (text, JSON-able numbers, the PNG written).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from layerlab.errors import LayerlabError
from layerlab.viz.explain import base
from layerlab.viz.explain.base import Explanation, get_topic, register_topic
from layerlab.viz.style import check_lang

# topic -> the module (in this package) that registers it
MODULES = {"tensor": "tensor", "conv": "conv", "conv-size": "sizes", "padding": "padding", "pool": "pool",
           "activation": "activation", "softmax": "softmax", "lr": "lr", "overfitting": "overfitting",
           "vanishing-gradient": "vanishing", "gan-game": "gan",
           "convolutionalization": "convolutionalization", "transposed-conv": "transposed",
           "reparameterisation": "reparam", "iou": "iou", "nms": "nms", "spp": "spp"}


def load(topic: str | None = None) -> base.Registry:
    """Import `topic`'s module (every topic's when None or unknown, for the list and the suggestions)."""
    for module in [MODULES[topic]] if topic in MODULES else sorted(set(MODULES.values())):
        importlib.import_module(f"layerlab.viz.explain.{module}")
    return base.TOPICS


def __getattr__(name: str) -> Any:
    if name == "TOPICS":          # the full registry, its modules imported on first use
        return load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["TOPICS", "Explanation", "explain", "list_topics", "register_topic"]

# the order a course meets them, for `layerlab explain` with no topic
ORDER = ("tensor", "conv", "conv-size", "padding", "pool", "activation", "softmax", "lr", "overfitting",
         "vanishing-gradient", "convolutionalization", "transposed-conv", "iou", "nms", "spp", "gan-game",
         "reparameterisation")


# the one-line descriptions as `layerlab explain --lang ko` lists them (the English ones are registered with each topic)
KO_DESCRIPTIONS = {
    "iou": "두 상자의 IoU (교집합 / 합집합): 검출이 맞은 것으로 세어지는 기준",
    "nms": "비최대 억제 (NMS): 중복 상자를 한 단계씩 지우기",
    "spp": "공간 피라미드 풀링: 어떤 영역이든 21 x 채널 개의 수가 되는 이유",
    "tensor": "랭크, 모양(shape), dtype, 브로드캐스팅, 내적, reshape와 transpose의 차이를 작은 예로",
    "conv": "커널(blur, sharpen, emboss, outline, sobel, 직접 입력)을 이미지에 적용하고, 작은 행렬로 손 계산",
    "conv-size": "출력 크기 (N - F + 2P)/S + 1과 그 계산 과정; 필터가 맞지 않으면 필요한 패딩을 알려 줌",
    "padding": "같은 이미지에 zero, reflect, replicate 패딩을 나란히, 3x3 행렬로 손 계산",
    "pool": "최대 풀링과 평균 풀링을 창 하나씩 (강의의 4x4 예제), 그리고 이미지에서",
    "activation": "sigmoid (강의의 a, b), tanh, ReLU, leaky ReLU, GELU와 그 기울기, 10개 층에 걸친 sigmoid' <= 0.25",
    "softmax": "로짓 -> 확률, argmax, 원-핫 정답에 대한 교차 엔트로피 (기본값: 강의의 벡터)",
    "lr": "1차원과 2차원 손실에서 학습률이 너무 작을 때, 알맞을 때, 너무 클 때의 경사 하강법",
    "overfitting": "다항식 차수에 따른 학습 오차와 검증 오차, 5-겹 교차 검증, 편향-분산 트레이드오프",
    "vanishing-gradient": "RNN, LSTM, GRU에서 앞선 입력마다 손실의 기울기; `layers`: 깊은 MLP의 층마다 sigmoid, "
                          "tanh, ReLU 비교 (로그 눈금)",
    "convolutionalization": "분류기의 Linear 층을 같은 가중치의 합성곱 층으로: 로짓은 그대로, 큰 이미지에서는 점수 지도",
    "transposed-conv": "전치 합성곱(deconvolution): 입력 픽셀마다 필터를 찍는다, (N - 1)·S - 2P + F, 쌍선형 업샘플링",
    "gan-game": "1차원 데이터의 GAN 게임: 생성자가 배우는 동안 움직이는 판별자의 결정 경계",
    "reparameterisation": "z = μ + σ·ε로 표본을 뽑아 기울기가 μ와 σ까지 닿게 하기 (VAE의 트릭)",
}


def list_topics(lang: str = "en") -> list[tuple[str, str]]:
    """(name, one-line description) of every topic, in course order, in `lang`."""
    topics = load()
    names = [n for n in ORDER if n in topics] + [n for n in topics.names() if n not in ORDER]
    if check_lang(lang) == "ko":
        return [(name, KO_DESCRIPTIONS.get(name, topics.get(name).description)) for name in names]
    return [(name, topics.get(name).description) for name in names]


DEFAULT_FOLDER = Path("runs") / "explain"   # beside the training runs, not loose in the current folder


def explain(
    topic: str,
    args: Sequence[str] = (),
    *,
    out: Path | str | None = None,
    lang: str = "en",
    figure: bool = True,
    **options: Any,
) -> Explanation:
    """Explain one topic: compute its numbers, write its working, draw its PNG.

    `args` are the topic's positional arguments as the user typed them (e.g. conv-size's
    "7 3 2 0"); `out` is the folder of the PNG (written as <topic>.png; default runs/explain/)
    or the PNG file itself;
    `options` are topic options such as image=, target=, seed=. `figure=False` computes the numbers
    and the working only: no PNG, and matplotlib is never imported (conv-size then answers in
    ~0.1 s with neither torch nor matplotlib loaded).
    """
    load(topic)
    entry = get_topic(topic)
    check_lang(lang)
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        takes = ", ".join("--" + o for o in entry.options) or "no options"
        raise LayerlabError(f"topic {topic!r} takes {takes}, not --{unknown[0]}")
    if not figure:
        return entry.obj(list(args), out=None, lang=lang, **options)
    path = Path(DEFAULT_FOLDER if out is None else out)
    if path.is_dir() or not path.suffix:   # a folder: the picture is TOPIC.png inside it
        path = path / f"{topic}.png"
    if path.suffix.lower() != ".png":
        raise LayerlabError(f"--out must name a folder or a .png file, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return entry.obj(list(args), out=path, lang=lang, **options)
