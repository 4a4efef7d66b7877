"""Text as token ids: a character corpus (Tiny Shakespeare) and sentence pairs (Korean-English).

Course unit: RNN/LSTM and Attention. What to notice:
- A language model's target is its input shifted by one: read "Firs", predict "irst".
- A vocabulary maps tokens to ids and back; the special tokens come first and have fixed ids
  (<pad>=0 so padding is easy to mask, <bos> starts decoding, <eos> ends it, <unk> for unseen words).
- Vocabularies are built from the training split only, so validation words the model never saw
  become <unk>, as they would in real use.

Readers return plain Python objects (`CharCorpus`, `Vocab`, lists of `SentencePair`); the registered
datasets "tiny-shakespeare" and "kor-eng" are TensorData views built from them.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import torch
from torch import Tensor

from layerlab.data.download import find_file
from layerlab.data.registry import register_dataset
from layerlab.data.splits import split_indices
from layerlab.data.tensors import TensorData
from layerlab.errors import LayerlabError

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


# ---------------------------------------------------------------------------------------------
# 1. Characters: Tiny Shakespeare
# ---------------------------------------------------------------------------------------------

class CharCorpus:
    """A text cut into a training part (first 90%) and a validation part (last 10%), as char ids."""

    def __init__(self, text: str, val_fraction: float = 0.1) -> None:
        if not 0.0 < val_fraction < 1.0:
            raise LayerlabError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
        cut = int(len(text) * (1 - val_fraction))          # contiguous: the validation text is unseen prose
        if cut < 2 or cut == len(text):
            raise LayerlabError(f"a text of {len(text)} characters is too short to split")
        self.vocab: list[str] = sorted(set(text[:cut]))    # from the training text only
        self.train_ids = self.encode(text[:cut])
        self.val_ids = self.encode(text[cut:])

    @classmethod
    def from_file(cls, path: Path, val_fraction: float = 0.1) -> "CharCorpus":
        return cls(Path(path).read_text(encoding="utf-8"), val_fraction)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> Tensor:
        """Character ids, (len(text),). A lookup table indexed by code point does a million
        characters in milliseconds, where a Python loop over a dict takes seconds."""
        codes = torch.frombuffer(bytearray(text.encode("utf-32-le")), dtype=torch.int32).long()   # (N,)
        table = torch.full((max(map(ord, self.vocab)) + 1,), -1, dtype=torch.long)
        table[torch.tensor([ord(ch) for ch in self.vocab])] = torch.arange(len(self.vocab))
        ids = table[codes.clamp(max=len(table) - 1)]
        unknown = (ids < 0) | (codes >= len(table))
        if bool(unknown.any()):
            chars = sorted({text[i] for i in unknown.nonzero().flatten()[:100].tolist()})
            raise LayerlabError(f"characters {chars[:5]} are not in the training vocabulary")
        return ids

    def decode(self, ids: Tensor | Iterable[int]) -> str:
        return "".join(self.vocab[int(i)] for i in ids)

    def ids(self, split: str = "train") -> Tensor:
        if split not in ("train", "val"):
            raise LayerlabError(f"a CharCorpus has splits train, val; got {split!r}")
        return self.train_ids if split == "train" else self.val_ids

    def chunks(self, seq_len: int, split: str = "train", offset: int = 0) -> tuple[Tensor, Tensor]:
        """Non-overlapping (inputs, targets) pieces from `offset`: targets are inputs shifted by one.

        Returns two (N, seq_len) tensors; every character after `offset` is a target once.
        """
        data = self.ids(split)
        n = (len(data) - 1 - offset) // seq_len
        if seq_len < 1 or n < 1:
            raise LayerlabError(f"the {split} text ({len(data)} chars) is too short for seq_len={seq_len}")
        inputs = data[offset : offset + n * seq_len].view(n, seq_len)            # (N, T)
        targets = data[offset + 1 : offset + 1 + n * seq_len].view(n, seq_len)   # (N, T), one step ahead
        return inputs, targets

    def batches(self, seq_len: int, batch_size: int, generator: torch.Generator,
                split: str = "train") -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of (inputs, targets) batches of shape (B, seq_len): the text is cut into pieces
        at a random offset (so piece boundaries move between epochs) and the pieces are shuffled."""
        offset = int(torch.randint(0, seq_len, (1,), generator=generator))
        inputs, targets = self.chunks(seq_len, split, offset)
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            yield torch.index_select(inputs, 0, idx), torch.index_select(targets, 0, idx)  # cheaper than [idx]


@register_dataset(
    "tiny-shakespeare",
    task="language-model",
    input_shape=(64,),
    num_classes=65,
    splits=("train", "val"),
    description="Tiny Shakespeare (1,115,394 chars, 65-char vocabulary): 64-char pieces -> next chars",
    files="input.txt (karpathy/char-rnn tinyshakespeare) in the data directory",
)
def tiny_shakespeare(root: Path | None = None, split: str = "train", seq_len: int = 64) -> TensorData:
    """Non-overlapping pieces of `seq_len` ids; classes are the vocabulary's characters."""
    corpus = CharCorpus.from_file(find_file(root, "tiny-shakespeare", "input.txt"))
    inputs, targets = corpus.chunks(seq_len, split)
    return TensorData(inputs, targets, tuple(corpus.vocab), "tiny-shakespeare",
                      {"vocab": "".join(corpus.vocab), "characters": len(corpus.ids(split))})


# ---------------------------------------------------------------------------------------------
# 2. Sentence pairs: Tatoeba English-Korean (manythings.org format)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SentencePair:
    english: str
    korean: str
    attribution: str   # the CC-BY credit (tatoeba.org #ids); it must travel with the sentences


def read_sentence_pairs(path: Path) -> list[SentencePair]:
    """Lines of `English<TAB>Korean<TAB>attribution` (the manythings.org / Anki format)."""
    pairs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) != 3:
                raise LayerlabError(f"{path}:{number}: expected English<TAB>Korean<TAB>attribution, "
                                    f"got {len(fields)} field(s)")
            pairs.append(SentencePair(*fields))
    return pairs


_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")   # words (don't, i'm stay whole) or single punctuation marks


def tokenize(text: str, language: str = "en") -> list[str]:
    """English: lowercase words and punctuation. Korean: split on whitespace and punctuation
    (a word keeps its particles: "학교에" is one token, the simplest honest choice without a morpheme analyser)."""
    if language == "en":
        return _TOKEN.findall(text.lower())
    if language == "ko":
        return _TOKEN.findall(text)
    raise LayerlabError(f"expected language 'en' or 'ko', got {language!r}")


class Vocab:
    """Tokens <-> ids; ids 0..3 are <pad>, <bos>, <eos>, <unk>."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self.tokens: list[str] = list(SPECIALS) + [t for t in tokens if t not in SPECIALS]
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(cls, sentences: Iterable[list[str]], min_freq: int = 1) -> "Vocab":
        """Tokens seen at least `min_freq` times, most frequent first (ties alphabetical: repeatable)."""
        counts = Counter(t for sentence in sentences for t in sentence)
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        return cls(kept)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: list[str], bos: bool = False, eos: bool = True) -> list[int]:
        ids = [self.index.get(t, UNK) for t in tokens]
        return ([BOS] if bos else []) + ids + ([EOS] if eos else [])

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens up to the first <eos>, without <pad> and <bos>."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.tokens[i])
        return out


def pad_sequences(sequences: list[list[int]], length: int | None = None) -> Tensor:
    """Right-pad id lists with <pad>=0 into one (N, length) tensor (default: the longest)."""
    length = max(map(len, sequences), default=0) if length is None else length
    out = torch.full((len(sequences), length), PAD, dtype=torch.long)
    for row, ids in enumerate(sequences):
        out[row, : len(ids)] = torch.tensor(ids[:length], dtype=torch.long)
    return out


@register_dataset(
    "kor-eng",
    task="seq2seq",
    input_shape=None,
    splits=("train", "test"),
    description="Tatoeba Korean-English pairs (3,798): padded token ids, Korean -> English by default",
    files="kor.txt (manythings.org, English<TAB>Korean<TAB>attribution) in the data directory",
)
def kor_eng(root: Path | None = None, split: str = "train", reverse: bool = False, min_freq: int = 1,
            test_fraction: float = 0.1, max_tokens: int | None = None) -> TensorData:
    """inputs: source ids + <eos>, padded (N, S); targets: <bos> + target ids + <eos>, padded (N, T).

    A decoder is trained on targets[:, :-1] -> targets[:, 1:] (teacher forcing). The held-out pairs
    are a fixed random 10% (seed 0); vocabularies come from the training pairs. `reverse`: English -> Korean.
    """
    pairs = read_sentence_pairs(find_file(root, "kor-eng", "kor.txt"))
    src_lang, tgt_lang = ("en", "ko") if reverse else ("ko", "en")
    tokens = [(tokenize(_side(p, src_lang), src_lang), tokenize(_side(p, tgt_lang), tgt_lang)) for p in pairs]
    train_idx, test_idx = split_indices(len(pairs), test_fraction, seed=0)
    train_idx = train_idx.sort().values                               # file order: short sentences first
    src_vocab = Vocab.build((tokens[i][0] for i in train_idx.tolist()), min_freq)
    tgt_vocab = Vocab.build((tokens[i][1] for i in train_idx.tolist()), min_freq)
    chosen = (train_idx if split == "train" else test_idx.sort().values).tolist()
    if max_tokens is not None:
        chosen = [i for i in chosen if max(len(tokens[i][0]), len(tokens[i][1])) <= max_tokens]
    src = pad_sequences([src_vocab.encode(tokens[i][0]) for i in chosen])
    tgt = pad_sequences([tgt_vocab.encode(tokens[i][1], bos=True) for i in chosen])
    meta = {"direction": f"{src_lang}->{tgt_lang}", "src_vocab": src_vocab.tokens, "tgt_vocab": tgt_vocab.tokens,
            "pairs": [pairs[i] for i in chosen], "pad_id": PAD, "bos_id": BOS, "eos_id": EOS, "unk_id": UNK}
    return TensorData(src, tgt, tuple(tgt_vocab.tokens), "kor-eng", meta)


def _side(pair: SentencePair, language: str) -> str:
    return pair.english if language == "en" else pair.korean
