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
    "Precision: float32": "정밀도: float32",
    "`--amp` asks for bf16 autocast, but the device it trained on has no native bf16 (torch would emulate it, many "
    "times slower), so the run trained in float32: its times are float32's.": "`--amp`는 bf16 autocast를 요청하지만 학습한 장치에 bf16 "
    "연산이 없어(torch가 흉내 내면 몇 배 느립니다) float32로 학습했습니다: 걸린 시간도 float32 기준입니다.",
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
    "AlexNet-style CIFAR net: no normalisation vs LRN vs batch norm":
    "AlexNet 스타일 CIFAR 신경망: 정규화 없음 vs LRN vs 배치 정규화",
    "Autoencoders on MNIST: redraw a digit through a code": "MNIST 오토인코더: 코드를 거쳐 숫자를 다시 그리기",
    "DCGAN on MNIST: a generator and a discriminator in a game": "MNIST DCGAN: 게임을 벌이는 생성자와 판별자",
    "The degradation problem: plain vs residual, 20 vs 56 layers": "Degradation 문제: plain vs 잔차 신경망, 20층 vs 56층",
    "FCN-32s, -16s and -8s on generated shapes": "생성한 도형으로 학습한 FCN-32s, -16s, -8s",
    "Classify your own images": "내 이미지 분류하기",
    "A variational autoencoder on MNIST: generate digits from N(0, I)":
    "MNIST 변분 오토인코더 (VAE): N(0, I)에서 숫자 생성하기",
    "Vanishing gradients through 15 layers: sigmoid vs tanh vs ReLU": "15개 층을 지나는 기울기 소실: sigmoid vs tanh vs ReLU",
    # the course units the labs name in English
    "AutoEncoder: representation learning without labels (denoising, latent space)":
    "AutoEncoder: 레이블 없는 표현 학습 (잡음 제거, 잠재 공간)",
    "AutoEncoder: the VAE, the reparameterisation trick, sampling from the prior":
    "AutoEncoder: VAE, 재매개변수화 트릭, 사전 분포에서 표본 뽑기",
    "CNN 실습, 전이학습 (your own data: a folder per class)": "CNN 실습, 전이학습 (내 데이터: 클래스마다 폴더 하나)",
    "2주차 인공신경망 (ANN): the training pipeline": "2주차 인공신경망 (ANN): 학습 파이프라인",
    "Semantic segmentation: FCN (convolutionalization, deconvolution, skips)":
    "Semantic segmentation: FCN (합성곱화, deconvolution, 스킵 연결)",
    "Semantic segmentation: U-Net (contracting and expanding paths, skip connections)":
    "Semantic segmentation: U-Net (수축 경로와 확장 경로, 스킵 연결)",
    "Attention Mechanism: Bahdanau attention on Korean-English sentence pairs":
    "Attention Mechanism: 한국어-영어 문장 쌍의 Bahdanau 어텐션",
    # the labs' tables and figures
    "training history": "학습 기록", "Per-class accuracy": "클래스별 정확도", "Per fold": "폴드별 결과",
    "Test BCE per class": "클래스별 테스트 BCE", "test BCE per class": "클래스별 테스트 BCE",
    "Plain net (no skip): training history": "스킵 연결 없는 plain 신경망: 학습 기록",
    "with skip (ResNet)": "스킵 연결 있음 (ResNet)", "without skip (plain)": "스킵 연결 없음 (plain)",
    "BLEU on held-out pairs": "평가용 문장 쌍의 BLEU", "Example translations": "번역 예시",
    "Test errors in dollars": "달러 단위 테스트 오차", "Final errors (last epoch)": "최종 오차 (마지막 에포크)",
    "Variants on the test images": "테스트 이미지에서의 변형별 결과",
    "Classes among the generated samples (judge's prediction)": "생성 표본의 클래스 (심판 모델의 예측)",
    "Gradient norm per layer (1 = next to the input)": "층별 기울기 크기 (1 = 입력 쪽)",
    "no normalisation": "정규화 없음", "batch norm": "배치 정규화",
    "per-pixel BCE and MSE": "픽셀당 BCE와 MSE", "per-pixel BCE": "픽셀당 BCE", "autoencoder": "오토인코더",
    "(denoising)": "(잡음 제거)", "one test digit of each class": "클래스마다 테스트 숫자 하나",
    "2-number codes of the test images, coloured by class": "테스트 이미지의 2차원 코드 (색: 클래스)",
    "noisy input": "잡음 섞인 입력", "code": "코드", "latent": "잠재 차원",
    "μ of every test image, coloured by class": "모든 테스트 이미지의 μ (색: 클래스)",
    "the decoder over the latent plane (Gaussian quantiles 5%..95%)": "잠재 평면 위의 디코더 출력 (가우시안 분위수 5%..95%)",
    "test digits redrawn through their μ": "μ를 거쳐 다시 그린 테스트 숫자", "loss = BCE + KL per image": "이미지당 손실 = BCE + KL",
    "The same noise, epoch by epoch": "같은 잡음, 에포크별", "The game, epoch by epoch": "에포크별 게임",
    "D loss (real→1, fake→0)": "D 손실 (진짜→1, 가짜→0)", "G loss (fake→1)": "G 손실 (가짜→1)",
    "D loss when D(·) = 0.5: 2·ln 2": "D(·) = 0.5일 때의 D 손실: 2·ln 2", "D(x): real images": "D(x): 진짜 이미지",
    "D(G(z)): generated": "D(G(z)): 생성 이미지", "0.5: D cannot tell": "0.5: D가 구별 못 함",
    "mean probability of 'real'": "'진짜'라고 볼 평균 확률", "15%: too many": "15%: 너무 많음",
    "Classifier Inception Score": "분류기 Inception Score", "goal 9.0": "목표 9.0", "goal: 3 x floor": "목표: 하한의 3배",
    "ResNets": "ResNet", "plain nets": "plain 신경망", "error (%)": "오차 (%)",
    "dashed = training error, bold = test error": "점선 = 학습 오차, 굵은 선 = 테스트 오차",
    "training images": "학습 이미지",
    "Same recipe, three FCNs: loss and validation mean IoU": "같은 학습 방법, FCN 세 개: 손실과 검증 mean IoU",
    "Held-out sections: image, truth, prediction, errors": "평가용 단면: 이미지, 정답, 예측, 오류",
    "Test images: truth and each net's prediction": "테스트 이미지: 정답과 각 신경망의 예측",
    "loss, membrane IoU and Rand F-score": "손실, 세포막 IoU, Rand F-score",
    "attention weight α_tj": "어텐션 가중치 α_tj", "output word (decoder step t)": "출력 단어 (디코더 스텝 t)",
    "source word (encoder state h_j)": "입력 단어 (인코더 상태 h_j)", "reference": "정답 번역",
    "cross-entropy per target token": "목표 토큰당 교차 엔트로피", "held-out": "평가용",
    "Teacher-forced training, same seed and budget": "교사 강요 (teacher forcing) 학습, 같은 시드와 예산",
    "MSE on scaled prices": "스케일한 가격의 MSE", "close ($)": "종가 ($)",
    "transfer vs from scratch": "전이 학습 vs 처음부터 학습",
    "at initialisation": "초기화 직후",
    "Sample": "생성한 글", "Per-fold scores": "폴드별 점수",
    "MSE on standardised prices (the saved model)": "표준화한 가격의 MSE (저장된 모델)",
    "membrane_iou": "세포막 IoU", "rand_f": "Rand F", "slice with a grid": "격자를 그린 단면",
    "mask (white = membrane)": "마스크 (흰색 = 세포막)", "warped slice": "변형된 단면",
    "mask through the same field (nearest)": "같은 변위장으로 옮긴 마스크 (nearest)",
    "Elastic deformation (U-Net paper): a smooth random warp; image and mask move together":
    "탄성 변형 (U-Net 논문): 부드러운 무작위 변형; 이미지와 마스크가 함께 움직인다",
    "CRNN + CTC: reading captchas": "CRNN + CTC: 캡차 읽기",
    "R-CNN: a CNN on every warped region proposal": "R-CNN: 크기를 맞춘 모든 영역 후보에 CNN 적용",
    "SPPNet: one conv pass per image, a spatial pyramid per region": "SPPNet: 이미지마다 합성곱 한 번, 영역마다 공간 피라미드",
    "Average precision per class (IoU 0.5, VOC all-point)": "클래스별 평균 정밀도 (IoU 0.5, VOC all-point)",
    # explain and viz in the terminal
    "figure": "그림", "figures": "그림", "input": "입력", "note": "참고", "prediction": "예측",
    "first conv layer": "첫 합성곱 층", "feature maps": "특징 맵",
    "topics (layerlab explain TOPIC [args] [--lang ko])": "주제 (layerlab explain 주제 [인자] [--lang ko])",
    "inverted (dark strokes on a light background; the model expects light on dark)":
    "색 반전 (밝은 바탕의 어두운 획; 모델은 어두운 바탕의 밝은 획을 기대합니다)",
}
# one-word labels (a legend entry, a panel title), translated only when they are the whole text: inside a
# longer text they are ordinary words ("transfer learning" is not "전이 학습 learning")
KO_EXACT = {"image": "이미지", "truth": "정답", "transfer": "전이 학습", "from scratch": "처음부터 학습",
            "clean": "깨끗한 원본", "denoised": "잡음 제거 결과", "original": "원본", "reconstruction": "복원",
            "interpolation": "보간", "actual": "실제", "persistence": "어제 값 그대로", "slice": "단면"}
# sentences with numbers or names in them: (English pattern, Korean), tried before the table
KO_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^converted (\S+) to grayscale$"), r"\1 이미지를 흑백으로 변환"),
    # detection figures (viz/detection.py)
    (re.compile(r"^Sliding windows ranked by objectness; recall@0\.5 of all (\d+) on the test set: ([\d.]+)$"),
     r"객체다움(objectness) 순으로 고른 슬라이딩 윈도우; 테스트 세트에서 \1개 전체의 recall@0.5: \2"),
    (re.compile(r"^Sliding windows ranked by objectness$"), r"객체다움(objectness) 순으로 고른 슬라이딩 윈도우"),
    (re.compile(r"^the (\d+) best proposals \(dashed: true boxes\)$"), r"점수가 가장 높은 제안 영역 \1개 (점선: 정답 상자)"),
    (re.compile(r"^SPP over a (\d+)x(\d+)-cell window \(stride (\d+)\): (\d+) bins x (\d+) channels = ([\d,]+) numbers, "
                r"whatever the window's size$"),
     r"\1x\2칸 윈도우의 SPP (stride \3): 구간 \4개 x 채널 \5개 = 숫자 \6개, 윈도우 크기와 상관없이 같음"),
    (re.compile(r"^(\d+)x(\d+) bins: (\d+) x (\d+) = ([\d,]+) numbers$"), r"\1x\2 구간: \3 x \4 = 숫자 \5개"),
    (re.compile(r"^(\S+): precision-recall at IoU 0\.5$"), r"\1: IoU 0.5에서의 정밀도-재현율"),
    (re.compile(r"^(\S+) on test images \(score >= ([\d.]+); dashed: true boxes\)$"),
     r"테스트 이미지에서의 \1 (점수 >= \2; 점선: 정답 상자)"),
    (re.compile(r"^converted (\S+) to RGB$"), r"\1 이미지를 RGB로 변환"),
    (re.compile(r"^resized (\d+x\d+) to (\d+x\d+)$"), r"크기 변경 \1 -> \2"),
    (re.compile(r"^test image (\d+) of (.+) \(true class (.+)\)$"), r"\2의 테스트 이미지 \1 (실제 클래스 \3)"),
    (re.compile(r"^held-out section (.+) of (\S+)$"), r"\2의 평가용 단면 \1"),
    (re.compile(r"^(.+) feature maps: down the encoder \(coarser, more channels\), back up to pixels$"),
     r"\1 특징 맵: 인코더로 내려가며 (더 거칠게, 채널은 더 많이), 다시 픽셀 크기로 올라가며"),
    (re.compile(r"^Transfer learning: a pretrained VGG on (.+)$"), r"전이 학습: 사전 학습된 VGG로 \1 분류하기"),
    (re.compile(r"^Classify your own images: (.+)$"), r"내 이미지 분류하기: \1"),
    (re.compile(r"^(.+) from (\d+) images per class: transfer vs from scratch$"),
     r"\1, 클래스당 이미지 \2장: 전이 학습 vs 처음부터 학습"),
    (re.compile(r"^AlexNet-style net on ([\d,]+) CIFAR-10 images, same recipe$"),
     r"CIFAR-10 이미지 \1장, AlexNet 스타일 신경망, 같은 학습 방법"),
    (re.compile(r"^(\d+) layers, width (\d+): with vs without skip connections$"), r"\1층, 폭 \2: 스킵 연결 있음 vs 없음"),
    (re.compile(r"^(.+): ([\d.]+%) right$"), r"\1: \2 맞춤"),
    (re.compile(r"^(.+): (\d+) samples decoded from z ~ N\(0, I\)$"), r"\1: z ~ N(0, I)에서 디코딩한 표본 \2개"),
    (re.compile(r"^(.+): test digit (.+) to (.+) in a straight line of codes$"),
     r"\1: 테스트 숫자 \2에서 \3까지, 코드를 직선으로 이어 가며"),
    (re.compile(r"^(\d+)-layer MLP on (\S+): the gradient reaching each layer, mean of (\d+) training images$"),
     r"\2의 \1층 MLP: 각 층에 도달하는 기울기, 학습 이미지 \3장의 평균"),
    (re.compile(r"^after ([\d,]+) SGD steps$"), r"SGD \1 스텝 후"),
    (re.compile(r"^Same recipe, (\d+) epochs: training curves$"), r"같은 학습 방법, \1 에포크: 학습 곡선"),
    (re.compile(r"^CIFAR-10, ([\d,]+) training images, (\d+) epochs: dashed = training error, bold = test error$"),
     r"CIFAR-10, 학습 이미지 \1장, \2 에포크: 점선 = 학습 오차, 굵은 선 = 테스트 오차"),
    (re.compile(r"^warped \((\d+)x(\d+) control points, σ = ([\d.]+) px\)$"), r"변형 (제어점 \1x\2, σ = \3 px)"),
    (re.compile(r"^([\d.]+%) of pixels wrong$"), r"픽셀의 \1 틀림"),
    (re.compile(r"^(.+): image$"), r"\1: 이미지"), (re.compile(r"^truth \(white = (.+)\)$"), r"정답 (흰색 = \1)"),
    (re.compile(r"^errors: red = false (.+), blue = missed$"), r"오류: 빨강 = 잘못 찾은 \1, 파랑 = 놓친 \1"),
    (re.compile(r"^fair share (\d+%)$"), r"공평한 몫 \1"), (re.compile(r"^most possible: (\d+)$"), r"최댓값: \1"),
    (re.compile(r"^Classes among the samples: (\d+) of (\d+) covered$"), r"표본 속 클래스: \2개 중 \1개가 나옴"),
    (re.compile(r"^Fréchet distance \(LeNet features\): ([\d.]+) x floor$"), r"Fréchet 거리 (LeNet 특징): 하한의 \1배"),
    (re.compile(r"^Judged by a LeNet-5 \(test accuracy ([\d.]+)\); two-sample test ([\d.]+) \(real vs real ([\d.]+); "
                r"0.5 = cannot tell\)$"),
     r"LeNet-5가 심판 (테스트 정확도 \1); 두 표본 검정 \2 (진짜 대 진짜 \3; 0.5 = 구별 못 함)"),
]
_PHRASES = sorted(KO, key=len, reverse=True)
_PATTERN = re.compile("|".join(rf"(?<![\w-]){re.escape(p)}(?![\w-])" for p in _PHRASES))


def say(text: str, lang: str) -> str:
    """`text` in `lang`: the table's Korean for every phrase of it the table knows (English: unchanged)."""
    if check_lang(lang) == "en":
        return text
    if text in KO:
        return KO[text]
    if text in KO_EXACT:
        return KO_EXACT[text]
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
