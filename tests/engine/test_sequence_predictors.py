"""`layerlab predict` and `layerlab eval` on the sequence tasks, from run folders made by hand.

Each test trains a tiny model in a second (a 3-character cycle, or three memorised sentence
pairs), saves it with the card its lab would write, and asks the command line about it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from layerlab.cli import main
from layerlab.data import get_dataset
from layerlab.engine.checkpoint import load_weights, save_weights
from layerlab.engine.deploy import evaluate_run
from layerlab.engine.run import RunDir
from layerlab.engine.sequence_predictors import language_model_card, translation_card
from layerlab.models import get_model

LM = {"vocab_size": 3, "embedding_dim": 8, "hidden_size": 16, "num_layers": 1}
VOCAB = ["a", "b", "c"]


def cli_json(capsys, *args: str) -> dict:
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def save_run(tmp_path: Path, lab: str, model: torch.nn.Module, card) -> Path:
    run = RunDir.create(tmp_path / "runs", lab, {})
    save_weights(model, run.weights_path())
    card.save(run.path / "model.json")
    return run.path


@pytest.fixture
def cycle_run(tmp_path) -> Path:
    """A char-LSTM that learned "abcabc...", in a run folder with its data (input.txt) beside it."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "input.txt").write_text("abc" * 200)
    torch.manual_seed(0)
    model = get_model("char-lstm", **LM)
    ids = torch.tensor([0, 1, 2] * 40)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(150):
        loss = F.cross_entropy(model(ids[:-1].view(1, -1)).flatten(0, 1), ids[1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    card = language_model_card(overrides=LM, vocab=VOCAB, seq_len=8, data_dir=str(tmp_path / "data"))
    return save_run(tmp_path, "char-rnn", model, card)


def test_a_language_model_continues_the_prompt_greedily(cycle_run, tmp_path, capsys):
    (tmp_path / "prompt.txt").write_text("ab")
    [result] = cli_json(capsys, "predict", str(cycle_run), str(tmp_path / "prompt.txt"), "--length", "7")["predictions"]
    assert result == {"file": str(tmp_path / "prompt.txt"), "prompt": "ab", "continuation": "cabcabc",
                      "sampling": "greedy"}
    assert main(["predict", str(cycle_run), str(tmp_path / "prompt.txt"), "--length", "4"]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'prompt.txt'} (greedy):\nabcabc\n"


def test_eval_scores_a_language_model_on_the_validation_text(cycle_run):
    metrics = evaluate_run(cycle_run)
    # the last 10% of "abc" * 200 is 60 characters: 7 pieces of 8, each target the next character
    val = get_dataset("tiny-shakespeare", split="val", root=cycle_run.parents[2] / "data", seq_len=8)
    assert val.inputs.shape == (7, 8)
    model = load_weights(get_model("char-lstm", **LM), cycle_run / "model.safetensors")
    with torch.no_grad():
        loss = F.cross_entropy(model(val.inputs).flatten(0, 1), val.targets.flatten()).item()
    assert metrics["val_loss"] == pytest.approx(loss, rel=1e-5)
    assert metrics["val_perplexity"] == pytest.approx(math.exp(loss), rel=1e-5)
    assert metrics["val_accuracy"] == 1.0                   # a 3-cycle is fully decided by one character


def test_seeded_sampling_repeats_itself_and_draws_by_probability(tmp_path, capsys):
    model = get_model("char-lstm", **LM)
    with torch.no_grad():                                   # next character: a or b, one half each, never c
        model.fc.weight.zero_()
        model.fc.bias.copy_(torch.tensor([0.0, 0.0, -50.0]))
    run = save_run(tmp_path, "char-rnn", model, language_model_card(overrides=LM, vocab=VOCAB, seq_len=8))
    (tmp_path / "prompt.txt").write_text("c")

    def sample(seed: str) -> str:
        args = ["predict", str(run), str(tmp_path / "prompt.txt"), "--seed", seed, "--length", "100"]
        return cli_json(capsys, *args)["predictions"][0]["continuation"]

    first = sample("1")
    assert first == sample("1") and first != sample("2")
    assert set(first) == {"a", "b"} and len(first) == 100


def test_a_prompt_with_characters_the_model_never_saw_is_one_line(cycle_run, tmp_path, capsys):
    (tmp_path / "prompt.txt").write_text("abz")
    assert main(["predict", str(cycle_run), str(tmp_path / "prompt.txt")]) == 2
    assert capsys.readouterr().err.strip() == (f"error: {tmp_path / 'prompt.txt'}: the prompt must be non-empty text "
                                                "of the characters the model was trained on; ['z'] are not among them")
    assert main(["predict", str(cycle_run), str(tmp_path / "prompt.txt"), "--length", "0"]) == 2
    assert "--length must be at least 1" in capsys.readouterr().err


PAIRS = [("i am a student .", "나는 학생 이다 ."), ("you are my good friend .", "너는 내 좋은 친구 야 ."),
         ("thank you very much .", "정말 고마워 .")]
S2S = {"embedding_dim": 16, "hidden_size": 32}


@pytest.fixture
def translator_run(tmp_path) -> Path:
    """A Korean -> English seq2seq that memorised three pairs (each four times in kor.txt)."""
    (tmp_path / "data").mkdir()
    lines = [f"{en}\t{ko}\tCC-BY 2.0 (France) Attribution: tatoeba.org #{i}" for i, (en, ko) in enumerate(PAIRS * 4)]
    (tmp_path / "data" / "kor.txt").write_text("\n".join(lines) + "\n")
    train = get_dataset("kor-eng", split="train", root=tmp_path / "data")
    overrides = S2S | {"src_vocab_size": len(train.meta["src_vocab"]), "tgt_vocab_size": len(train.meta["tgt_vocab"])}
    torch.manual_seed(0)
    model = get_model("seq2seq-attention", **overrides)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(120):
        logits, _ = model(train.inputs, train.targets[:, :-1])                      # teacher forcing
        loss = F.cross_entropy(logits.flatten(0, 1), train.targets[:, 1:].flatten(), ignore_index=0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    card = translation_card(model="seq2seq-attention", overrides=overrides, src_vocab=train.meta["src_vocab"],
                            tgt_vocab=train.meta["tgt_vocab"], direction=train.meta["direction"],
                            dataset_options={}, data_dir=str(tmp_path / "data"))
    return save_run(tmp_path, "seq2seq-attention", model, card)


def test_a_translator_translates_each_line_of_a_file(translator_run, tmp_path, capsys):
    (tmp_path / "sentences.txt").write_text("나는 학생 이다 .\n\n정말 고마워 .\n너는 내 좋은 친구 야 !\n", encoding="utf-8")
    results = cli_json(capsys, "predict", str(translator_run), str(tmp_path / "sentences.txt"))["predictions"]
    assert [(r["line"], r["source"], r["unknown"]) for r in results] == [
        (1, "나는 학생 이다 .", []), (3, "정말 고마워 .", []), (4, "너는 내 좋은 친구 야 !", ["!"])]
    assert [r["translation"] for r in results[:2]] == ["i am a student .", "thank you very much ."]


def test_eval_scores_a_translator_on_the_held_out_pairs(translator_run):
    # the held-out pairs repeat training pairs here, so a model that memorised them is perfect
    # one pair of the twelve is held out as the test split, and eval says it scored that one
    assert evaluate_run(translator_run) == {"examples": 1, "test_bleu1": 1.0, "test_bleu2": 1.0, "test_bleu4": 1.0}


def test_a_prompt_on_the_command_line_is_continued_greedily_or_sampled_at_a_temperature(cycle_run, capsys):
    [greedy] = cli_json(capsys, "predict", str(cycle_run), "--prompt", "ab", "--length", "7")["predictions"]
    assert greedy == {"file": "prompt", "prompt": "ab", "continuation": "cabcabc", "sampling": "greedy"}
    [cold] = cli_json(capsys, "predict", str(cycle_run), "--prompt", "ab", "--length", "30", "--temperature", "0.01")["predictions"]
    assert cold["continuation"] == "cab" * 10 and cold["sampling"] == "sampled, seed 0, temperature 0.01"
    hot = cli_json(capsys, "predict", str(cycle_run), "--prompt", "ab", "--length", "60", "--temperature", "50")
    assert set(hot["predictions"][0]["continuation"]) == {"a", "b", "c"}    # nearly uniform: the cycle breaks
    assert main(["predict", str(cycle_run), "--prompt", "ab", "--temperature", "0"]) == 2
    assert "--temperature must be a positive number" in capsys.readouterr().err


def test_a_translator_translates_a_sentence_given_on_the_command_line(translator_run, capsys):
    [result] = cli_json(capsys, "predict", str(translator_run), "--prompt", "나는 학생 이다 .")["predictions"]
    assert result == {"file": "prompt", "line": 1, "source": "나는 학생 이다 .", "translation": "i am a student .",
                      "unknown": []}


def test_a_prompt_for_an_image_model_or_no_input_at_all_is_one_line(tmp_path, capsys):
    assert main(["predict", str(tmp_path)]) == 2
    assert capsys.readouterr().err == ("error: predict needs files to predict on, --prompt TEXT for a language "
                                       "model or translator, or --samples N for a run that generates (GAN, VAE)\n")
