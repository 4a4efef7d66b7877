"""Predictors for the sequence labs: a character language model continues a prompt (char-rnn),
and an encoder-decoder translates sentences (seq2seq-attention).

Their runs keep what turns text into ids and back in the model card's `extra`: the character
vocabulary, or the source and target vocabularies and the translation direction. The labs build
their cards with `language_model_card` and `translation_card`, so `layerlab predict` and
`layerlab eval` need nothing but the run folder.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerlab.data import get_dataset
from layerlab.data.text import Vocab, pad_sequences, tokenize
from layerlab.engine.bleu import corpus_bleu
from layerlab.engine.card import ModelCard
from layerlab.engine.predictors import PredictOptions, register_predictor
from layerlab.engine.translate import greedy_translate
from layerlab.errors import LayerlabError


# ---------------------------------------------------------------------------------------------
# 1. Language model: a prompt file -> the prompt continued, one character at a time
# ---------------------------------------------------------------------------------------------

def language_model_card(*, overrides: dict[str, Any], vocab: Sequence[str], seq_len: int, model: str = "char-lstm",
                        dataset: str = "tiny-shakespeare", data_dir: str | None = None,
                        data_source: str | None = None) -> ModelCard:
    """The card of a character language model. `overrides` are the ones it was built with
    (`get_model(model, **overrides)`), `vocab` its characters in id order, `seq_len` the piece
    length it was trained and validated on (the dataset's validation split scores it)."""
    return ModelCard(model=model, overrides=dict(overrides), input_shape=(seq_len,), task="language-model",
                     dataset=dataset, data_dir=data_dir, data_source=data_source, test_split="val",
                     extra={"vocab": list(vocab)})


@torch.no_grad()
def continue_ids(model: nn.Module, prompt: Tensor, steps: int, seed: int | None = None,
                 temperature: float | None = None) -> list[int]:
    """`steps` more ids after `prompt` (1-D): the likeliest one each step (greedy: no seed, no
    temperature), or drawn from the softmax of logits / temperature (default 1) with a generator
    seeded by `seed` (default 0)."""
    if seed is not None or temperature is not None:
        generator = torch.Generator().manual_seed(0 if seed is None else seed)
        return model.generate(prompt, steps, temperature or 1.0, generator)[len(prompt):].tolist()
    logits, state = model.forward_with_state(prompt.unsqueeze(0))   # (1, T, V): the state has read the prompt
    ids: list[int] = []
    for _ in range(steps):
        next_id = logits[0, -1].argmax().view(1, 1)                   # (1, 1)
        ids.append(int(next_id))
        logits, state = model.forward_with_state(next_id, state)
    return ids


def evaluate_text(model: nn.Module, card: ModelCard) -> dict[str, float]:
    """Cross-entropy per character on the validation text, as the lab measured it, and its perplexity."""
    val = get_dataset(card.dataset, split=card.test_split, root=card.data_dir, seq_len=card.input_shape[0])
    if list(val.classes) != card.extra["vocab"]:
        raise LayerlabError(f"the {card.dataset} text found now has other characters than this run was trained on; "
                            f"pass the run's own data with --data-dir (it read {card.data_source or card.data_dir})")
    loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(val), 256):
            logits = model(val.inputs[start : start + 256]).float()   # (B, T, V)
            targets = val.targets[start : start + 256]                 # (B, T)
            loss += F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="sum").item()
            correct += int((logits.argmax(dim=-1) == targets).sum())
    count = val.targets.numel()
    return {"examples": count, "val_loss": loss / count, "val_perplexity": math.exp(loss / count), "val_accuracy": correct / count}


def describe_text(result: dict[str, Any]) -> str:
    return f"{result['file']} ({result['sampling']}):\n{result['prompt']}{result['continuation']}"


def continue_text(model: nn.Module, card: ModelCard, prompt: str, options: PredictOptions,
                  source: str = "prompt") -> list[dict[str, Any]]:
    """The prompt continued by `options.length` characters; `source` names where the prompt came from."""
    vocab = card.extra["vocab"]
    index = {ch: i for i, ch in enumerate(vocab)}
    unknown = sorted(set(prompt) - set(index))
    if not prompt or unknown:
        raise LayerlabError(f"{source}: the prompt must be non-empty text of the characters the model was trained on; "
                            f"{unknown[:5]} are not among them")
    ids = continue_ids(model, torch.tensor([index[ch] for ch in prompt]), options.length, options.seed, options.temperature)
    if options.seed is None and options.temperature is None:
        sampling = "greedy"
    else:
        sampling = f"sampled, seed {options.seed or 0}, temperature {options.temperature or 1.0:g}"
    return [{"file": source, "prompt": prompt, "continuation": "".join(vocab[i] for i in ids), "sampling": sampling}]


@register_predictor("language-model", describe=describe_text, evaluate=evaluate_text, from_text=continue_text)
def predict_text(model: nn.Module, card: ModelCard, path: Path, options: PredictOptions) -> list[dict[str, Any]]:
    return continue_text(model, card, read_text(path), options, source=str(path))


# ---------------------------------------------------------------------------------------------
# 2. Translation: a file of sentences, one per line -> one greedy translation per line
# ---------------------------------------------------------------------------------------------

def translation_card(*, model: str, overrides: dict[str, Any], src_vocab: Sequence[str], tgt_vocab: Sequence[str],
                     direction: str, dataset: str = "kor-eng", dataset_options: dict[str, Any] | None = None,
                     data_dir: str | None = None, data_source: str | None = None) -> ModelCard:
    """The card of an encoder-decoder translator. `model` and `overrides` as it was built, the
    vocabularies as the dataset's meta gives them (token lists in id order), `direction` like
    "ko->en". `dataset_options` are the dataset's options besides split and root (reverse,
    min_freq, max_tokens): with them `layerlab eval` rebuilds the held-out pairs; None: no eval."""
    src_lang, _, tgt_lang = direction.partition("->")
    return ModelCard(model=model, overrides=dict(overrides), task="translation", loss="sequence_cross_entropy",
                     dataset=dataset, data_dir=data_dir, data_source=data_source,
                     test_split="test" if dataset_options is not None else "",
                     extra={"src_vocab": list(src_vocab), "tgt_vocab": list(tgt_vocab), "src_lang": src_lang,
                            "tgt_lang": tgt_lang, "dataset_options": dataset_options or {}})


def translate_sentences(model: nn.Module, card: ModelCard, sentences: list[str]) -> list[list[str]]:
    """Greedy translations (target tokens) of plain sentences, tokenised as the training pairs were."""
    src_vocab, tgt_vocab = Vocab(card.extra["src_vocab"]), Vocab(card.extra["tgt_vocab"])
    sources = pad_sequences([src_vocab.encode(tokenize(s, card.extra["src_lang"])) for s in sentences])   # (N, S)
    translations = greedy_translate(model, sources, max_len=2 * sources.shape[1] + 5)   # room for a longer answer
    return [tgt_vocab.decode(ids) for ids, _ in translations]


def evaluate_translation(model: nn.Module, card: ModelCard) -> dict[str, float]:
    """Corpus BLEU-1/2/4 of greedy translations of the held-out pairs, against their references."""
    test = get_dataset(card.dataset, split=card.test_split, root=card.data_dir, **card.extra["dataset_options"])
    if test.meta["src_vocab"] != card.extra["src_vocab"] or test.meta["tgt_vocab"] != card.extra["tgt_vocab"]:
        raise LayerlabError(f"the {card.dataset} pairs found now give other vocabularies than this run's; "
                            f"pass the run's own data with --data-dir (it read {card.data_source or card.data_dir})")
    tgt_vocab, tgt_lang = Vocab(card.extra["tgt_vocab"]), card.extra["tgt_lang"]
    max_len = test.targets.shape[1] + 2                  # as the lab decodes: a little longer than any reference
    hypotheses = [tgt_vocab.decode(ids) for ids, _ in greedy_translate(model, test.inputs, max_len)]
    references = [tokenize(pair.english if tgt_lang == "en" else pair.korean, tgt_lang) for pair in test.meta["pairs"]]
    return {"examples": len(hypotheses)} | {f"test_bleu{n}": corpus_bleu(hypotheses, references, max_n=n) for n in (1, 2, 4)}


def describe_translation(result: dict[str, Any]) -> str:
    return f"{result['file']} line {result['line']}: {result['source']}  ->  {result['translation']}"


def translate_text(model: nn.Module, card: ModelCard, text: str, options: PredictOptions,
                   source: str = "prompt") -> list[dict[str, Any]]:
    """One greedy translation per non-empty line of `text`, with the words the model never saw."""
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise LayerlabError(f"{source} has no sentences to translate (one sentence per line)")
    known = set(card.extra["src_vocab"])
    translations = translate_sentences(model, card, [line for _, line in lines])
    return [{"file": source, "line": number, "source": line, "translation": " ".join(words),
             "unknown": [t for t in tokenize(line, card.extra["src_lang"]) if t not in known]}
            for (number, line), words in zip(lines, translations)]


@register_predictor("translation", describe=describe_translation, evaluate=evaluate_translation, from_text=translate_text)
def predict_translations(model: nn.Module, card: ModelCard, path: Path, options: PredictOptions) -> list[dict[str, Any]]:
    return translate_text(model, card, read_text(path), options, source=str(path))


def read_text(path: Path) -> str:
    """A UTF-8 text file whole; a missing or binary file is one line."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LayerlabError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise LayerlabError(f"{path} is not UTF-8 text") from None
