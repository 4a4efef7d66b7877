"""The one translation table of the labs' reports and figures, and the terminal text of `explain`
and `viz`: English wording -> the course's Korean (its notes say 손실, 정확도, 에포크, 반복, 결과 ...).

`say(text, "ko")` gives the Korean of a whole phrase in the table, or of the phrases in the table
found inside a longer text (longest first, as whole words), and leaves the rest as it was: a
title like "loss (lower is better)" becomes "손실 (낮을수록 좋음)". `localize_figure` does that to
a figure's titles, axis labels and legend, and gives its text a font with Hangul.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from layerlab.viz.style import LATIN_FONT, check_lang, korean_font_name

if TYPE_CHECKING:  # only for annotations: matplotlib is imported lazily
    from matplotlib.figure import Figure

KO: dict[str, str] = {
    # report headings and the lines around them
    "Results": "결과", "What to notice": "눈여겨볼 점", "Training history": "학습 기록", "Figures": "그림",
    "Model": "모델", "Configuration": "설정", "Course unit": "강의 단원", "Lab": "실습", "run time": "실행 시간",
    "seed": "시드", "metric": "지표", "value": "값", "parameters; per layer in `summary.txt`.":
    "개 파라미터; 층별 내역은 `summary.txt`에 있습니다.",
    "Smoke run (--quick)": "시험 실행 (--quick)",
    "a small slice of the data and one or two epochs: these numbers check that the lab runs, not what the "
    "model can learn.": "데이터의 일부로 1-2 에포크만 학습했습니다: 이 숫자는 실습이 돌아가는지 확인할 뿐, 모델의 실력이 아닙니다.",
    "Trained": "학습", "epochs": "에포크", "iterations": "반복", "of at most": "최대",
    "early stopping ended the run; the saved weights are the best epoch's": "조기 종료로 끝났습니다; 저장된 가중치는 가장 좋은 에포크의 것입니다",
    "Per-class test accuracy": "클래스별 테스트 정확도", "Most confidently wrong": "가장 자신 있게 틀린 예측",
    # figures
    "Training curves": "학습 곡선", "Confusion matrix": "혼동 행렬", "predicted class": "예측 클래스",
    "true class": "실제 클래스", "Test images: predicted class (probability)": "테스트 이미지: 예측 클래스 (확률)",
    "Predicted vs true": "예측 vs 실제", "perfect": "완벽한 예측", "(higher is better)": "(높을수록 좋음)",
    "(lower is better)": "(낮을수록 좋음)", "epoch": "에포크", "iteration": "반복", "loss": "손실",
    "accuracy": "정확도", "train": "학습", "val": "검증", "test": "테스트", "best": "최고",
    "Sum of squared errors": "오차 제곱의 합", "sin(x) and the cubic": "sin(x)와 3차 함수",
    "random initial cubic": "무작위 초기 3차 함수", "fitted cubic": "학습된 3차 함수",
    "Cross-entropy per character": "글자당 교차 엔트로피", "true": "실제", "predicted": "예측",
    # the labs' titles
    "Char-RNN: an LSTM writes Shakespeare": "Char-RNN: LSTM이 셰익스피어를 쓴다",
    "CIFAR-10 with the course's block net": "CIFAR-10: 강의의 블록 CNN",
    "Fit a cubic to sin(x) with hand-written gradients": "직접 쓴 기울기로 sin(x)에 3차 함수 맞추기",
    "House prices: an MLP against linear regression": "집값 예측: MLP 대 선형 회귀",
    "LeNet-5 on MNIST: the first convolutional network": "MNIST의 LeNet-5: 최초의 합성곱 신경망",
    "MNIST with a 784-64-10 perceptron": "784-64-10 퍼셉트론으로 MNIST 분류",
    "ResNet-18 on CIFAR-10: the skip connection": "CIFAR-10의 ResNet-18: 스킵 연결",
    "Seq2seq translation with and without attention": "어텐션이 있는/없는 Seq2seq 번역",
    "Netflix stock: RNN, LSTM and GRU against persistence": "넷플릭스 주가: RNN, LSTM, GRU 대 어제 값 그대로",
    "Transfer learning: a pretrained VGG on new classes": "전이 학습: 사전 학습된 VGG로 새 클래스 분류",
    "U-Net on the ISBI 2012 membranes": "ISBI 2012 세포막의 U-Net",
    # explain and viz in the terminal
    "figure": "그림", "figures": "그림", "input": "입력", "note": "참고", "prediction": "예측",
    "first conv layer": "첫 합성곱 층", "feature maps": "특징 맵",
    "topics (layerlab explain TOPIC [args] [--lang ko])": "주제 (layerlab explain 주제 [인자] [--lang ko])",
    "inverted (dark strokes on a light background; the model expects light on dark)":
    "색 반전 (밝은 바탕의 어두운 획; 모델은 어두운 바탕의 밝은 획을 기대합니다)",
    "U-Net feature maps: down the encoder (coarser, more channels), back up the decoder":
    "U-Net 특징 맵: 인코더로 내려가며 (더 거칠게, 채널은 더 많이), 디코더로 다시 올라가며",
}
# sentences with numbers or names in them: (English pattern, Korean), tried before the table
KO_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^converted (\S+) to grayscale$"), r"\1 이미지를 흑백으로 변환"),
    (re.compile(r"^converted (\S+) to RGB$"), r"\1 이미지를 RGB로 변환"),
    (re.compile(r"^resized (\d+x\d+) to (\d+x\d+)$"), r"크기 변경 \1 -> \2"),
    (re.compile(r"^test image (\d+) of (.+) \(true class (.+)\)$"), r"\2의 테스트 이미지 \1 (실제 클래스 \3)"),
    (re.compile(r"^held-out section (.+) of (\S+)$"), r"\2의 평가용 단면 \1"),
]
_PHRASES = sorted(KO, key=len, reverse=True)
_PATTERN = re.compile("|".join(rf"(?<![\w-]){re.escape(p)}(?![\w-])" for p in _PHRASES))


def say(text: str, lang: str) -> str:
    """`text` in `lang`: the table's Korean for every phrase of it the table knows (English: unchanged)."""
    if check_lang(lang) == "en":
        return text
    if text in KO:
        return KO[text]
    for pattern, korean in KO_PATTERNS:
        if pattern.match(text):
            return pattern.sub(korean, text)
    return _PATTERN.sub(lambda m: KO[m.group(0)], text)


def localize_figure(figure: Figure, lang: str) -> Figure:
    """Translate the figure's text (titles, axis labels, legend entries) in place, with a Hangul font;
    numbers and words the table does not know stay as they are."""
    if check_lang(lang) == "en":
        return figure
    from matplotlib.text import Text

    family = [LATIN_FONT, korean_font_name()]   # Latin glyphs and digits from DejaVu, Hangul from NanumGothic
    for text in figure.findobj(Text):            # titles, suptitle, axis labels, legend entries, notes
        text.set_text(say(text.get_text(), lang))
        text.set_fontfamily(family)
    return figure
