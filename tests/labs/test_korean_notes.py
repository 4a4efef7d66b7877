"""A run with --lang ko has Korean "What to notice" notes holding the English notes' numbers."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from layerlab.labs import run_lab
from layerlab.labs.base import Note
from layerlab.labs.cifar_cnn import _notes as cifar_notes
from layerlab.labs.house_prices import _notes as house_notes
from layerlab.labs.reporting import accuracy_note, change_words, note_text, times_words
from layerlab.labs.stock_rnn import StockRnnConfig
from layerlab.labs.stock_rnn import _notes as stock_notes

HANGUL = re.compile("[\uac00-\ud7a3]")
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")     # "1,294" is one number; signs are left out


def notes_of(report: str) -> list[str]:
    """The bullet lines of the report's second section ("What to notice" / "눈여겨볼 점")."""
    section = report.split("\n## ")[2]
    return [line for line in section.splitlines() if line.startswith("- ")]


def assert_same_numbers_in_korean(english: list[str], korean: list[str]) -> None:
    assert len(korean) == len(english)
    for en, ko in zip(english, korean):
        assert HANGUL.search(ko) and not HANGUL.search(en), (en, ko)
        assert _numbers(ko) == _numbers(en), (en, ko)


def _numbers(text: str) -> list[str]:
    return sorted(n.rstrip(",") for n in NUMBER.findall(text))     # "at most 10, when": the comma ends the sentence part


def test_a_korean_run_of_cubic_sin_has_korean_notes_with_the_same_numbers(tmp_path):
    reports = {}
    for lang in ("en", "ko"):
        torch.manual_seed(0)   # the random starting cubic: the same in both runs
        outcome = run_lab("cubic-sin", {"iterations": 100, "lang": lang}, out=tmp_path / lang)
        reports[lang] = (Path(outcome["run_dir"]) / "report.md").read_text()
    english, korean = notes_of(reports["en"]), notes_of(reports["ko"])
    assert english[1].startswith("- Largest gap to the least-squares cubic: ")
    assert korean[1].startswith("- 최소제곱 삼차 함수와의 가장 큰 계수 차이: ")
    assert_same_numbers_in_korean(english, korean)
    assert korean[0].removeprefix("- 결과: ") == english[0].removeprefix("- Result: ")   # the fitted cubic itself


def test_a_note_is_shown_in_the_runs_language_and_a_plain_string_as_it_is():
    note = Note("Test accuracy 0.9712.", "테스트 정확도 0.9712.")
    assert note_text(note, "en") == "Test accuracy 0.9712." and note_text(note, "ko") == "테스트 정확도 0.9712."
    assert note_text("English only", "ko") == "English only"


def test_change_words_in_korean_say_the_same_verdict():
    assert change_words(6.020, 4.862, higher_is_better=False, lang="ko") == "23.8% 높아 더 나쁨"
    assert change_words(4.0, 5.0, higher_is_better=False, lang="ko") == "20.0% 낮아 더 좋음"
    assert change_words(4.8621, 4.862, higher_is_better=False, lang="ko") == "차이 없음"


def test_times_words_in_korean():
    assert times_words(12.0, 27.0, "선택지", "ko") == "선택지 2.2배 적음"
    assert times_words(27.0, 27.5, "선택지", "ko") == "선택지 비슷함"
    assert times_words(30.0, 20.0, "선택지", "ko") == "선택지 1.5배 많음"


def _both(notes: list[Note]) -> tuple[list[str], list[str]]:
    return [n.en for n in notes], [n.ko for n in notes]


def test_the_accuracy_note_of_the_classification_labs():
    note = accuracy_note(0.97123, 10_000)
    assert note.en == "Test accuracy 0.9712 on 10,000 images never seen in training."
    assert_same_numbers_in_korean([note.en], [note.ko])


@pytest.mark.parametrize("folds", [0, 5])
def test_house_prices_notes(folds):
    metrics = {"mlp_rmse": 6.020, "linear_rmse": 4.862}
    english, korean = _both(house_notes(metrics, "($1000s)", folds=folds, rows=506))
    assert english[0].endswith("MLP RMSE 6.020 vs linear 4.862 ($1000s): 23.8% higher, so worse than linear regression.")
    assert "선형 회귀 대비 23.8% 높아 더 나쁨." in korean[0]
    assert_same_numbers_in_korean(english, korean)


def test_stock_rnn_notes_for_a_win_a_loss_and_a_tie():
    rows = [{"model": "rnn", "test_rmse": 12.345, "test_mae": 9.1, "rmse_vs_persistence_pct": -3.21},
            {"model": "lstm", "test_rmse": 13.0, "test_mae": 9.9, "rmse_vs_persistence_pct": 2.5},
            {"model": "gru", "test_rmse": 12.7, "test_mae": 9.5, "rmse_vs_persistence_pct": 0.4},
            {"model": "persistence", "test_rmse": 12.75, "test_mae": 9.45}]
    for target in ("change", "level"):
        english, korean = _both(stock_notes(rows, StockRnnConfig(target=target), "rnn", "2021-01-04 .. 2021-12-30"))
        assert english[1] == "RNN: $12.35 RMSE, $9.10 MAE: beats persistence (-3.21% RMSE)."
        assert korean[1] == "RNN: RMSE $12.35, MAE $9.10: 어제 값 그대로 예측보다 나음 (RMSE -3.21%)."
        assert_same_numbers_in_korean(english, korean)
    rows[0]["rmse_vs_persistence_pct"] = 0.0     # no model wins: the note that says this is the lesson
    english, korean = _both(stock_notes(rows, StockRnnConfig(), "gru", "2021-01-04 .. 2021-12-30"))
    assert any(e.startswith("No model beats persistence") for e in english)
    assert_same_numbers_in_korean(english, korean)


def test_cifar_cnn_notes():
    table = SimpleNamespace(total_params=9_457_962, total_macs=123_456_789)
    metrics = {"test_accuracy": 0.8123, "seconds_per_epoch": 52.31, "matmul_gflops_start": 181.04, "matmul_gflops_end": 122.7}
    english, korean = _both(cifar_notes((0.4914, 0.4822, 0.4465), (0.247, 0.2435, 0.2616), table, metrics, 10_000))
    assert english[1] == "9,457,962 parameters and 123.5M multiply-accumulates per image (per layer in summary.txt)."
    assert english[2].startswith("Training took a median 52.3 s per epoch; this machine multiplied 1024x1024 float32 "
                                 "matrices at 181.0 GFLOP/s before training and 122.7 GFLOP/s at the end")
    assert_same_numbers_in_korean(english, korean)


# --- the notes of the labs added after the first translation: the same numbers in both languages ---


def test_resnet_cifar_notes_name_the_shortcuts_in_both_languages():
    from layerlab.labs.resnet_cifar import _notes
    from layerlab.models import get_model

    for skip in (True, False):
        model = get_model("resnet18-cifar", width=8, skip=skip)
        english, korean = _both(_notes(model, params=175_258, skip=skip, n_train=45_000, accuracy=0.84651, n_test=10_000))
        assert_same_numbers_in_korean(english, korean)
    assert "`layer2.0.downsample.0` (8→16, 1x1, stride 2)" in _notes(
        get_model("resnet18-cifar", width=8), params=1, skip=True, n_train=1, accuracy=0.5, n_test=1)[0].ko


@pytest.mark.parametrize("test_name", ["test", "val"])
def test_transfer_vgg16_notes(test_name):
    from layerlab.labs.transfer_vgg16 import TransferVgg16Config, _notes

    cfg = TransferVgg16Config(unfreeze_last=True)
    metrics = {"test_accuracy": 0.6375, "scratch_test_accuracy": 0.59}
    english, korean = _both(_notes(cfg, source="runs/x/model-pretrain.safetensors", frozen=287_008, params=322_082,
                                   classes=["cat", "dog"], n_train=200, n_test=2_000, test_name=test_name, metrics=metrics))
    assert english[1] == (f"200 training images; accuracy on all 2,000 {test_name} images of cat, dog: transfer 0.6375, "
                          "from scratch 0.5900 (seed 0).")
    assert len(english) == (2 if test_name == "test" else 3)
    assert_same_numbers_in_korean(english, korean)


def test_seq2seq_unet_and_classify_images_notes():
    from layerlab.data.tensors import TensorData
    from layerlab.labs.classify_images import ClassifyImagesConfig
    from layerlab.labs.classify_images import _notes as classify_notes
    from layerlab.labs.seq2seq_attention import Seq2SeqAttentionConfig
    from layerlab.labs.seq2seq_attention import _notes as seq2seq_notes
    from layerlab.labs.unet_membrane import UnetMembraneConfig
    from layerlab.labs.unet_membrane import _notes as unet_notes

    for beam in (1, 3):
        assert_same_numbers_in_korean(*_both(seq2seq_notes(Seq2SeqAttentionConfig(beam=beam), direction="kor->eng",
                                                           n_train=3_188, n_test=354, n_src=2_101, n_tgt=1_706)))
    metrics = {"test_pixel_accuracy": 0.9212, "test_membrane_iou": 0.669, "test_rand_f": 0.9221, "test_pixel_error": 0.0788}
    for cfg, threshold in ((UnetMembraneConfig(), 0.5),
                           (UnetMembraneConfig(model="fcn-8s", elastic=False, folds=5, tta=False, threshold=0.0), 0.35)):
        assert_same_numbers_in_korean(*_both(unet_notes(cfg, files=["25", "26"], all_cell=0.801, params=1_942_306,
                                                        metrics={**metrics, "threshold": threshold})))
    images = TensorData(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.tensor([0, 1, 0, 1]), ("apple", "sky"), "photos")
    for test, held_out in ((images, False), (None, True)):
        notes = classify_notes(ClassifyImagesConfig(), name="photos", splits=(images, images, test), channels=3,
                               size=(32, 32), source="random weights", frozen=0, judged_name="test" if test else "val",
                               judged=4, held_out=held_out)
        assert_same_numbers_in_korean(*_both(notes))
        assert "무작위 가중치" in notes[1].ko


def test_fcn_shapes_and_depth_labs_notes():
    from layerlab.labs.alexnet_norm import _notes as alexnet_notes
    from layerlab.labs.degradation import _notes as degradation_notes
    from layerlab.labs.fcn_shapes import FcnShapesConfig
    from layerlab.labs.fcn_shapes import _notes as fcn_notes
    from layerlab.labs.vanishing_gradients import _notes as vanishing_notes

    rows = [{"variant": v, "stride": s, "mean_iou": m, "pixel_accuracy": p}
            for v, s, m, p in (("fcn-32s", 32, 0.275, 0.8), ("fcn-16s", 16, 0.564, 0.89), ("fcn-8s", 8, 0.723, 0.942))]
    assert_same_numbers_in_korean(*_both(fcn_notes(FcnShapesConfig(), rows, 0.823)))
    for plain_gap in (0.262, -0.01):
        metrics = {"plain_deeper_minus_shallower_train_error": plain_gap, "resnet_deeper_minus_shallower_train_error": 0.021}
        english, korean = _both(degradation_notes(metrics, 20, 56, 8_000, 2_000))
        assert_same_numbers_in_korean(english, korean)
    metrics = {f"{a}_{k}": v for a in ("sigmoid", "tanh", "relu") for k, v in (
        ("shrink_per_layer_init", 0.234), ("log10_first_over_last_init", -8.8), ("shrink_per_layer_trained", 0.214),
        ("test_accuracy", 0.1009))}
    assert_same_numbers_in_korean(*_both(vanishing_notes(("sigmoid", "tanh", "relu"), metrics)))
    metrics = {"none_test_accuracy": 0.442, "lrn_test_accuracy": 0.48, "batch_test_accuracy": 0.599}
    english, korean = _both(alexnet_notes(["batch", "lrn", "none"], metrics, n_test=2_000, epochs=6, last="batch"))
    assert korean[0] == "6 에포크 뒤 이미지 2,000장에서 잰 테스트 정확도: 배치 정규화 0.5990, LRN (AlexNet 2012) 0.4800, 정규화 없음 0.4420 (좋은 순서)."
    assert_same_numbers_in_korean(english, korean)


def test_generative_labs_notes():
    from layerlab.labs.autoencoder import _notes as autoencoder_notes
    from layerlab.labs.dcgan import _notes as dcgan_notes
    from layerlab.labs.vae import _notes as vae_notes

    per_class = {str(d): 0.06 + d / 1000 for d in range(10)}
    for noise in (0.0, 0.4):
        english, korean = _both(autoencoder_notes(noise=noise, floor={"bce": 0.2625, "mse": 0.0671},
                                                  metrics={"test_bce": 0.067, "test_mse": 0.00229}, epochs=10,
                                                  seconds=855.2, params=28_353, per_class=per_class))
        assert_same_numbers_in_korean(english, korean)
    metrics = {"test_loss": 103.65, "test_kl": 25.14}
    assert_same_numbers_in_korean(*_both(vae_notes(metrics, epochs=10, seconds=175.0, params=652_824)))
    gan = SimpleNamespace(generator=torch.nn.Linear(3, 4), discriminator=torch.nn.Linear(4, 1))
    numbers = {"frechet": 108.5, "frechet_floor": 0.84, "frechet_floor_sd": 0.09, "frechet_ratio": 129.2, "inception_score": 6.44,
               "inception_score_real": 9.75, "modes_covered": 10, "largest_class_share": 0.155, "two_sample_accuracy": 0.818,
               "two_sample_floor": 0.516, "judge_test_accuracy": 0.9915,
               "mode_warning": "mode collapse: 3 of 10 classes covered (missing [1, 2, 4, 6, 7, 8, 9]); class 0 takes 28.0% "
                               "of the samples (a fair share is 10%, at most 15% expected)"}
    for warning in (numbers["mode_warning"], ""):
        english, korean = _both(dcgan_notes({**numbers, "mode_warning": warning}, 10_000, gan, 0.0))
        assert_same_numbers_in_korean(english, korean)
    assert korean[4].startswith("모드 붕괴 없음")
    averaged = {**numbers, "frechet_generator": 24.95, "inception_score_generator": 7.92}   # samples from G's average
    english, korean = _both(dcgan_notes(averaged, 10_000, gan, 0.995))
    assert_same_numbers_in_korean(english, korean)
    assert "decay 0.995" in english[5] and "24.95" in korean[5]
