"""Lab: a character-level LSTM language model on Tiny Shakespeare. Course unit: RNN/LSTM (5주차), 텍스트 생성.

Goal: read 128 characters, predict each next one (the target is the input shifted by one), then
write new "Shakespeare" one sampled character at a time. Judged by validation perplexity,
exp(cross-entropy per character): the number of characters the model is "choosing between".
Baseline: a unigram model (each character's frequency in the training text, no context at all),
about 27; the LSTM must beat it by a wide margin. Published: char-rnn (2x512 LSTM, hours) ≈ 3.9-4.1.
Expected with the defaults (10 epochs, bf16 autocast; `--no-amp` for fp32): validation perplexity
below 5, at least 5x lower than the unigram baseline.
"""

from __future__ import annotations

import itertools
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from torch import Tensor, nn

from layerlab.data.download import find_file
from layerlab.data.text import CharCorpus
from layerlab.engine import RunDir, fit
from layerlab.engine.losses import SequenceCrossEntropy
from layerlab.engine.sequence_predictors import language_model_card
from layerlab.errors import LayerlabError
from layerlab.inspect import summary
from layerlab.labs.base import LabConfig, LabResult, Note, option, register_lab
from layerlab.labs.reporting import times_words
from layerlab.models import get_model
from layerlab.viz.curves import plot_history


@dataclass(frozen=True)
class CharRnnConfig(LabConfig):
    hidden_size: int = option(512, "LSTM hidden units per layer")
    num_layers: int = option(2, "stacked LSTM layers")
    embedding_dim: int = option(64, "size of each character's embedding vector")
    dropout: float = option(0.2, "between the two LSTM layers: 1M characters overfit a 3M-parameter model")
    seq_len: int = option(128, "characters per piece (truncated backpropagation through time)")
    batch_size: int = option(64, "pieces of text per iteration")
    epochs: int = option(10, "full passes over the training text (122 steps each)")
    lr: float = option(2e-3, "learning rate of AdamW, cosine decay to 0")
    weight_decay: float = option(0.01, "AdamW's decoupled decay (torch's default, stated rather than implied)")
    amp: bool = option(True, "bf16 autocast: about 1.6x faster on a CPU with AVX-512 BF16")
    temperature: float = option(0.8, "sampling: < 1 is more careful, > 1 more adventurous")
    sample_chars: int = option(600, "characters the report's sample writes")
    prompt: str = option("ROMEO:", "text the report's sample starts from")


class CharBatches:
    """One epoch: the training text cut at a fresh random offset into shuffled pieces (CharCorpus.batches).

    The offset and order of epoch e depend only on (seed, e), so a resumed run reads the same batches.
    """

    def __init__(self, corpus: CharCorpus, cfg: CharRnnConfig, limit: int | None = None) -> None:
        self.corpus, self.cfg, self.limit = corpus, cfg, limit
        self.epoch = 0
        pieces = (len(corpus.ids("train")) - 1) // cfg.seq_len
        self.length = min(-(-pieces // cfg.batch_size), limit or pieces)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        generator = torch.Generator().manual_seed(self.cfg.seed * 100_003 + self.epoch)
        batches = self.corpus.batches(self.cfg.seq_len, self.cfg.batch_size, generator)
        yield from itertools.islice(batches, self.length)        # (B, T) ids, (B, T) next ids


def validation_batches(corpus: CharCorpus, cfg: CharRnnConfig, limit: int | None = None) -> list[tuple[Tensor, Tensor]]:
    """The whole validation text in order, as non-overlapping pieces (each starts from a blank state)."""
    inputs, targets = corpus.chunks(cfg.seq_len, "val")
    starts = range(0, len(inputs), cfg.batch_size)
    batches = [(inputs[i : i + cfg.batch_size], targets[i : i + cfg.batch_size]) for i in starts]
    return batches[:limit] if limit else batches


def unigram_loss(corpus: CharCorpus) -> float:
    """Cross-entropy (nats per character) of the validation text under training-text character frequencies."""
    counts = torch.bincount(corpus.ids("train"), minlength=corpus.vocab_size).double()
    log_p = (counts / counts.sum()).log()
    return -log_p[corpus.ids("val")].mean().item()


def sample(lm: nn.Module, corpus: CharCorpus, cfg: CharRnnConfig) -> str:
    unknown = sorted(set(cfg.prompt) - set(corpus.vocab))
    if not cfg.prompt or unknown:
        raise LayerlabError(f"--prompt must be non-empty text of training characters; {unknown[:5]} are not")
    if cfg.temperature <= 0:
        raise LayerlabError(f"--temperature must be > 0, got {cfg.temperature}")
    generator = torch.Generator().manual_seed(cfg.seed)
    ids = lm.cpu().eval().generate(corpus.encode(cfg.prompt), cfg.sample_chars, cfg.temperature, generator)
    return corpus.decode(ids)


@register_lab("char-rnn", config=CharRnnConfig, title="Char-RNN: an LSTM writes Shakespeare",
              metric="val_perplexity", higher_is_better=False,
              unit="5주차 RNN/LSTM: 문자 단위 언어 모델과 텍스트 생성")
def char_rnn(cfg: CharRnnConfig, run: RunDir) -> LabResult:
    # 1. Data: 90% of the text to train on, the last 10% (unseen prose) to validate
    corpus = CharCorpus.from_file(find_file(Path(cfg.data_dir) if cfg.data_dir else None, "tiny-shakespeare", "input.txt"))
    limit = 20 if cfg.quick else None
    train, val = CharBatches(corpus, cfg, limit), validation_batches(corpus, cfg, 4 if cfg.quick else None)
    # 2. Model: Embedding -> LSTM x num_layers -> Linear to the vocabulary
    overrides = dict(vocab_size=corpus.vocab_size, embedding_dim=cfg.embedding_dim, hidden_size=cfg.hidden_size,
                     num_layers=cfg.num_layers, dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)  # between layers only
    lm = get_model("char-lstm", **overrides)
    # 3. Training: cross-entropy of every next character (B·T predictions a batch), gradients clipped
    #    (LSTMs can spike), cosine schedule
    history = fit(lm, train, val=val, loss=SequenceCrossEntropy(pad_id=None), optimizer="adamw", lr=cfg.lr,
                  weight_decay=cfg.weight_decay, epochs=1 if cfg.quick else cfg.epochs, schedule="cosine", clip_grad_norm=1.0, amp=cfg.amp,
                  device=cfg.device, seed=cfg.seed, progress=cfg.progress, run=run)
    # 4. Report: perplexity against the unigram baseline, and a sample
    val_loss, base_loss = history.last["val_loss"], unigram_loss(corpus)
    text = sample(lm, corpus, cfg)
    print(f"--- sample (temperature {cfg.temperature:g}, seed {cfg.seed}) ---\n{text}\n---", file=sys.stderr)
    run.write_text("sample.txt", text + "\n")
    metrics = {"val_loss": val_loss, "val_perplexity": math.exp(val_loss), "val_accuracy": history.last["val_accuracy"],
               "unigram_loss": base_loss, "unigram_perplexity": math.exp(base_loss),
               "perplexity_ratio": math.exp(base_loss - val_loss)}
    model_pp, base_pp, acc = f"{metrics['val_perplexity']:.2f}", f"{metrics['unigram_perplexity']:.2f}", f"{100 * metrics['val_accuracy']:.1f}"
    fewer = [times_words(metrics["val_perplexity"], metrics["unigram_perplexity"], noun, lang)
             for noun, lang in (("likely choices per character", "en"), ("글자당 그럴듯한 선택지", "ko"))]
    notes = [Note(f"Validation perplexity {model_pp} against {base_pp} for character frequencies alone: {fewer[0]}.",
                  f"검증 퍼플렉서티 {model_pp}, 글자 빈도만 쓰면 {base_pp}: {fewer[1]}."),
             Note(f"Next-character accuracy on unseen text: {acc}%.", f"처음 보는 텍스트에서 다음 글자 정확도: {acc}%."),
             Note(f"The sample below (prompt {cfg.prompt!r}, temperature {cfg.temperature:g}, seed {cfg.seed}) is in sample.txt.",
                  f"아래 샘플(프롬프트 {cfg.prompt!r}, 온도 {cfg.temperature:g}, 시드 {cfg.seed})은 sample.txt에 있습니다.")]
    figures = [run.save_figure(plot_history(history, "Cross-entropy per character"), "curves")]
    card = language_model_card(overrides=overrides, vocab=corpus.vocab, seq_len=cfg.seq_len, data_dir=cfg.data_dir or None)
    return LabResult(metrics=metrics, history=history, summary=summary(lm, (cfg.seq_len,), dtype=torch.long), card=card,
                     notes=notes, tables={"Sample": [{"generated text": line} for line in text.splitlines()]},
                     figures=figures)
