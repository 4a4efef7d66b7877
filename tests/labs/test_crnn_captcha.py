"""The crnn-captcha lab on a few text images the test draws, then `layerlab predict` and `layerlab eval`
on its run folder; a label that cannot fit its columns stops it before training; the real run is @slow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest
from PIL import Image, ImageDraw

from layerlab.cli import main
from layerlab.errors import LayerlabError
from layerlab.labs import run_lab

WORDS = ["ab", "ba", "abc", "cab", "bca", "acb", "cc", "aab", "bb", "ca", "bac", "abb", "ccab", "ac", "cba", "bcc"]


def draw_words(folder: Path, words: list[str] = WORDS, width: int = 64) -> Path:
    """Black words on white, 24 px high, named by their text (the label)."""
    folder.mkdir(parents=True, exist_ok=True)
    for word in words:
        image = Image.new("L", (width, 24), 255)
        ImageDraw.Draw(image).text((3, 6), word, fill=0)
        image.save(folder / f"{word}.png")
    return folder


def test_quick_run_reports_ctc_figures_and_predict_and_eval_read_its_folder(tmp_path: Path, capsys) -> None:
    data = draw_words(tmp_path / "words")
    outcome = run_lab("crnn-captcha", {"dataset": "text-images", "data_dir": str(data), "height": 24, "quick": True,
                                       "progress": False, "beam": 3, "examples": 4}, out=tmp_path / "runs")
    run = Path(outcome["run_dir"])
    for key in ("val_loss", "val_sequence_accuracy", "val_character_accuracy", "val_cer", "val_beam_sequence_accuracy"):
        assert key in outcome
    assert 0.0 <= outcome["val_sequence_accuracy"] <= 1.0 and outcome["val_cer"] >= 0.0 and outcome["val_loss"] > 0
    report = (run / "report.md").read_text(encoding="utf-8")
    assert "blank-only plateau" in report and "Beam search (width 3)" in report
    for name in ("readings", "alignment", "curves"):
        image = matplotlib.image.imread(run / "figures" / f"{name}.png")      # real, decodable PNGs
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    # layerlab predict RUN_DIR image.png in a fresh process (nothing but the CLI has imported the task
    # predictors there): the text and its probability
    proc = subprocess.run([sys.executable, "-m", "layerlab", "predict", str(run), str(data / "cab.png"), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    reading = json.loads(proc.stdout.strip().splitlines()[-1])["predictions"][0]
    assert set(reading["text"]) <= set("abc") and 0.0 < reading["probability"] <= 1.0
    assert main(["predict", str(run), str(data / "cab.png")]) == 0
    printed = capsys.readouterr().out
    assert f"cab.png: {reading['text']!r} (probability {reading['probability']:.4f})" in printed
    # layerlab eval rebuilds the validation split from the card and scores the saved weights
    assert main(["eval", str(run), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scored["examples"] == 2 and 0.0 <= scored["val_cer"]


def test_a_label_longer_than_its_columns_stops_the_lab_before_training(tmp_path: Path) -> None:
    # 12 px wide: the lab's two width poolings leave 12 / 4 = 3 columns; "aab" needs 4 (a blank between the a's)
    data = draw_words(tmp_path / "narrow", ["ab", "ba", "aab", "b", "a", "bb"], width=12)
    options = {"dataset": "text-images", "data_dir": str(data), "height": 24, "quick": True, "progress": False}
    with pytest.raises(LayerlabError) as error:
        run_lab("crnn-captcha", {**options, "join": 0.0}, out=tmp_path / "runs")
    message = str(error.value)
    assert "\n" not in message and "aab.png: the label 'aab' needs at least 4 time steps" in message
    assert "only 3 columns" in message
    # read in pairs too (the default --join 0.5): "bb" just fits its 3 columns, but "bb" + "b..." would not
    with pytest.raises(LayerlabError, match=r"^bb.png: the label 'bb' needs at least 3 time steps .* and one to spare "
                                            r"to be read joined to another line but the model gives its image only 3 "
                                            r"columns, .*, or --join 0$"):
        run_lab("crnn-captcha", options, out=tmp_path / "runs")



def test_folds_train_one_net_per_fold_and_report_the_mean(tmp_path: Path) -> None:
    data = draw_words(tmp_path / "words")
    outcome = run_lab("crnn-captcha", {"dataset": "text-images", "data_dir": str(data), "height": 24, "quick": True,
                                       "progress": False, "folds": 2, "beam": 0, "examples": 2}, out=tmp_path / "runs")
    rows = outcome["tables"]["Per fold"]
    assert [row["fold"] for row in rows] == [0, 1]
    for key in ("val_loss", "val_sequence_accuracy", "val_cer"):
        assert outcome[key] == pytest.approx(sum(row[key] for row in rows) / 2, abs=1e-6)
    assert "val_beam_sequence_accuracy" not in outcome


def test_training_images_move_and_join_as_configured_and_validation_images_never_move() -> None:
    import torch

    from layerlab.data.transforms import random_affine, random_crop, random_join
    from layerlab.labs.crnn_captcha import CrnnCaptchaConfig, pipelines

    images = torch.randint(0, 256, (4, 1, 50, 200), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    texts = {"labels": torch.arange(1, 21).view(4, 5), "label_lengths": torch.full((4,), 5), "widths": torch.full((4,), 200)}
    normalised = (images.float() / 255 - 0.5) / 0.25

    def moved(transform, seed, inputs=images):
        return transform(inputs, texts, torch.Generator().manual_seed(seed))

    def scaled(pixels):
        return (pixels.float() / 255 - 0.5) / 0.25

    train, val = pipelines(CrnnCaptchaConfig(), (0.5,), (0.25,))   # the default: the affine moves, then join half the batches
    for seed in (0, 1):   # validation: the same normalised pixels whatever the generator, in NHWC storage
        out, same = moved(val, seed)
        torch.testing.assert_close(out, normalised)
        assert out.is_contiguous(memory_format=torch.channels_last) and same is texts
    affine = random_affine(degrees=4.0, shift=(8, 3), x_scale=(0.9, 1.1), shear=10.0)
    both = [moved(train, seed) for seed in range(8)]
    joined = [seed for seed, (out, _) in enumerate(both) if out.shape[-1] == 400]
    assert 0 < len(joined) < 8                                   # half the batches, by the generator's draw
    for seed, (out, target) in enumerate(both):                  # the same draws, step by step
        g = torch.Generator().manual_seed(seed)
        pixels, expected = random_join(0.5)(*affine(images, texts, g), g)
        torch.testing.assert_close(out, scaled(pixels))
        assert torch.equal(target["labels"], expected["labels"]) and target["widths"].tolist() == [out.shape[-1]] * 4
    train, _ = pipelines(CrnnCaptchaConfig(join=0.0), (0.5,), (0.25,))
    torch.testing.assert_close(moved(train, 0)[0], scaled(moved(affine, 0)[0]))
    # --ramp 20: the moves grow over the first 20 epochs: none in epoch 1, half in epoch 11, all from epoch 21 on
    train, _ = pipelines(CrnnCaptchaConfig(join=0.0, ramp=20), (0.5,), (0.25,))
    torch.testing.assert_close(moved(train, 0)[0], normalised)
    train.set_epoch(11)
    half = random_affine(degrees=2.0, shift=(4, 1.5), x_scale=(0.95, 1.05), shear=5.0)
    torch.testing.assert_close(moved(train, 0)[0], scaled(moved(half, 0)[0]))
    train.set_epoch(21)
    torch.testing.assert_close(moved(train, 0)[0], scaled(moved(affine, 0)[0]))
    # degrees, stretch and shear 0 and vshift -1: whole-pixel shifts with mirrored edges (the first recipe)
    first = CrnnCaptchaConfig(shift=2, vshift=-1, degrees=0.0, stretch=0.0, shear=0.0, join=0.0)
    train, _ = pipelines(first, (0.5,), (0.25,))
    torch.testing.assert_close(moved(train, 0)[0], scaled(moved(random_crop(2, mode="reflect"), 0)[0]))
    train, _ = pipelines(CrnnCaptchaConfig(shift=0, vshift=-1, degrees=0.0, stretch=0.0, shear=0.0, join=0.0), (0.5,), (0.25,))
    torch.testing.assert_close(moved(train, 3)[0], normalised)


@pytest.mark.slow
def test_crnn_captcha_default_split_holds_its_measured_figures(shared_datasets: Path, tmp_path: Path) -> None:
    # measured (seed 0, one run, see the README row): sequence accuracy 1.0, CER 0.0, CTC loss 0.013
    # (best epoch 10; every epoch from 22 on read all 104; without --join: 0.059, best epoch 21). This asserts issue 14's goals, 0.97 / 0.01,
    # which leave room for 3 misread captchas on another machine's thread count.
    import torch

    torch.set_num_threads(2)
    out = run_lab("crnn-captcha", {"data_dir": str(shared_datasets / "captcha-v2"), "progress": False}, out=tmp_path)
    assert out["val_sequence_accuracy"] >= 0.97
    assert out["val_cer"] <= 0.01
    assert out["val_loss"] < 4.36                 # Keras's best validation CTC loss
    assert out["val_beam_sequence_accuracy"] >= out["val_sequence_accuracy"] - 0.02


@pytest.mark.slow
def test_crnn_captcha_reads_with_832_training_images_the_folds_size(shared_datasets: Path, tmp_path: Path) -> None:
    # the case the first recipe (±2 px shifts) failed: 832 training images, 208 held out, read 0.115.
    # Measured with the moves and --join (seed 0: fold 4 of the 5-fold run, the same split): 1.0, CER 0.0,
    # CTC loss 0.011 (the moves alone: 0.9952). This asserts issue 14's goals, 0.97 / 0.01 (5 misread of 208).
    # Without --join, --seed 1 read 0.0 on this split size (CTC never found the alignment); see the 5-fold test.
    import torch

    torch.set_num_threads(2)
    out = run_lab("crnn-captcha", {"data_dir": str(shared_datasets / "captcha-v2"), "val_size": 208, "progress": False},
                  out=tmp_path)
    assert out["val_sequence_accuracy"] >= 0.97
    assert out["val_cer"] <= 0.01
    assert out["val_loss"] < 1.0                  # the memorising recipe ended at 5.27 (±2 px) and 4.17 (±6 px)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_crnn_captcha_five_folds_meet_issue_14s_goals(shared_datasets: Path, tmp_path: Path, seed: int) -> None:
    # measured (one run each, ~48 min on one thread, see the README row): seed 0 per fold 0.9952, 1.0,
    # 0.9856, 1.0, 1.0, mean 0.9962, CER 0.0008; seed 1 1.0, 1.0, 0.9952, 0.9952, 0.9904, mean 0.9962.
    # Without --join (the moves alone) seed 0 read 0.9875 and seed 1 0.204: four folds learned by heart.
    import torch

    torch.set_num_threads(2)
    out = run_lab("crnn-captcha", {"data_dir": str(shared_datasets / "captcha-v2"), "folds": 5, "seed": seed,
                                   "progress": False}, out=tmp_path)
    assert out["val_sequence_accuracy"] >= 0.97   # issue 14's goal for the 5-fold mean
    assert out["val_cer"] <= 0.01
    folds = out["tables"]["Per fold"]
    assert min(row["val_sequence_accuracy"] for row in folds) >= 0.95   # the weakest fold read 0.9856
    assert all(1 <= row["plateau_left_in_epoch"] <= 10 for row in folds)   # measured 4-6 (0 = never; 7-21 or never without --join)
