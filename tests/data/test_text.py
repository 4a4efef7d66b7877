"""Character corpus, sentence pairs, tokenizer and vocabularies, on files the tests write."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from layerlab.data import get_dataset
from layerlab.data.text import (
    BOS,
    EOS,
    PAD,
    UNK,
    CharCorpus,
    Vocab,
    pad_sequences,
    read_sentence_pairs,
    tokenize,
)
from layerlab.errors import LayerlabError


def test_char_corpus_vocab_split_and_round_trip() -> None:
    text = "hello world, " * 9 + "hello hello h"     # 130 chars; the last 13 (10%) are validation
    corpus = CharCorpus(text)
    assert corpus.vocab == [" ", ",", "d", "e", "h", "l", "o", "r", "w"]   # sorted, from the training text
    assert len(corpus.train_ids) == 117 and len(corpus.val_ids) == 13
    assert corpus.decode(corpus.train_ids) == text[:117]
    assert corpus.decode(corpus.val_ids) == "hello hello h"
    assert corpus.encode("hold").tolist() == [4, 6, 5, 2]
    with pytest.raises(LayerlabError, match="not in the training vocabulary"):
        CharCorpus("abcdefghij" * 2 + "Q")                         # 'Q' only in the last 10%


def test_chunks_targets_are_inputs_shifted_by_one() -> None:
    corpus = CharCorpus("abcdefghijklmnopqrstuvwxyz" * 2, val_fraction=0.1)
    inputs, targets = corpus.chunks(seq_len=5)
    assert inputs.shape == targets.shape == (9, 5)                 # (46 - 1) // 5 pieces of the training text
    assert corpus.decode(inputs[0]) == "abcde" and corpus.decode(targets[0]) == "bcdef"
    assert torch.equal(inputs[:, 1:], targets[:, :-1])


def test_batches_cover_an_epoch_and_repeat_with_the_seed() -> None:
    text = "".join(chr(97 + (i * 7) % 26) for i in range(1000))
    corpus = CharCorpus(text)                                      # 900 training characters
    first = list(corpus.batches(10, 16, torch.Generator().manual_seed(0)))
    again = list(corpus.batches(10, 16, torch.Generator().manual_seed(0)))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again, strict=True))
    assert [len(x) for x, _ in first] == [16] * 5 + [9]            # (900 - 1 - offset) // 10 = 89 pieces
    for x, y in first:
        assert x.shape[1] == 10 and torch.equal(x[:, 1:], y[:, :-1])
        for row, target in zip(x, y):                              # each piece is real, contiguous text
            assert corpus.decode(row) + corpus.decode(target[-1:]) in text[:900]


def test_tiny_shakespeare_reader_on_a_small_file(tmp_path: Path) -> None:
    (tmp_path / "input.txt").write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 20)
    train = get_dataset("tiny-shakespeare", "train", root=tmp_path, seq_len=16)
    val = get_dataset("tiny-shakespeare", "val", root=tmp_path, seq_len=16)
    assert train.inputs.dtype == torch.long and train.inputs.shape[1] == 16
    assert torch.equal(train.inputs[:, 1:], train.targets[:, :-1])
    assert "".join(train.classes[i] for i in train.inputs[0]) == "First Citizen:\nB"
    assert val.classes == train.classes and len(val) < len(train)


def test_tokenizer_english_and_korean() -> None:
    assert tokenize("I don't know, Tom!") == ["i", "don't", "know", ",", "tom", "!"]
    assert tokenize("안녕, 톰! 학교에 가요.", "ko") == ["안녕", ",", "톰", "!", "학교에", "가요", "."]
    with pytest.raises(LayerlabError, match="'en' or 'ko'"):
        tokenize("x", "fr")


def test_vocab_specials_min_freq_and_unknowns() -> None:
    vocab = Vocab.build([["a", "b", "a"], ["c", "a", "b"]], min_freq=2)
    assert vocab.tokens == ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b"]
    assert (PAD, BOS, EOS, UNK) == (0, 1, 2, 3)
    assert vocab.encode(["a", "c"], bos=True) == [BOS, 4, UNK, EOS]
    assert vocab.decode([BOS, 4, 5, EOS, 4, PAD]) == ["a", "b"]
    assert pad_sequences([[4, 5, 2], [4]]).tolist() == [[4, 5, 2], [4, 0, 0]]


def _write_pairs(path: Path) -> Path:
    rows = [("Go.", "가.", "#1"), ("Hi.", "안녕.", "#2"), ("Run!", "뛰어!", "#3"), ("I won!", "내가 이겼어!", "#4")]
    rows += [(f"Tom saw {n} cats.", f"톰은 고양이 {n}마리를 봤어.", f"#{n + 10}") for n in range(16)]
    path.write_text("".join(f"{en}\t{ko}\tCC-BY 2.0 (France) Attribution: tatoeba.org {a}\n" for en, ko, a in rows),
                    encoding="utf-8")
    return path


def test_read_sentence_pairs_keeps_the_attribution(tmp_path: Path) -> None:
    pairs = read_sentence_pairs(_write_pairs(tmp_path / "kor.txt"))
    assert len(pairs) == 20
    assert (pairs[1].english, pairs[1].korean) == ("Hi.", "안녕.")
    assert pairs[1].attribution == "CC-BY 2.0 (France) Attribution: tatoeba.org #2"
    (tmp_path / "bad.txt").write_text("Go.\t가.\n", encoding="utf-8")
    with pytest.raises(LayerlabError, match="bad.txt:1: expected English<TAB>Korean<TAB>attribution"):
        read_sentence_pairs(tmp_path / "bad.txt")


def test_kor_eng_reader_pads_ids_and_splits_without_overlap(tmp_path: Path) -> None:
    _write_pairs(tmp_path / "kor.txt")
    train = get_dataset("kor-eng", "train", root=tmp_path)
    test = get_dataset("kor-eng", "test", root=tmp_path)
    assert (len(train), len(test)) == (18, 2)
    assert {p.english for p in train.meta["pairs"]}.isdisjoint(p.english for p in test.meta["pairs"])
    assert train.meta["direction"] == "ko->en"
    first = train.meta["pairs"][0]
    src_vocab, tgt_vocab = train.meta["src_vocab"], train.meta["tgt_vocab"]
    assert [src_vocab[i] for i in train.inputs[0] if i > 0] == tokenize(first.korean, "ko") + ["<eos>"]
    assert [tgt_vocab[i] for i in train.targets[0] if i > 0] == ["<bos>", *tokenize(first.english), "<eos>"]
    assert train.targets.dtype == torch.long and (train.inputs[:, -1] == PAD).any()   # right-padded
    reverse = get_dataset("kor-eng", "train", root=tmp_path, reverse=True)
    assert reverse.meta["direction"] == "en->ko" and reverse.meta["src_vocab"] == tgt_vocab


def test_real_tiny_shakespeare(shared_datasets: Path) -> None:
    corpus = CharCorpus.from_file(shared_datasets / "tiny-shakespeare" / "input.txt")
    assert len(corpus.train_ids) + len(corpus.val_ids) == 1_115_394
    assert corpus.vocab_size == 65
    assert corpus.decode(corpus.train_ids[:14]) == "First Citizen:"


def test_real_kor_eng(shared_datasets: Path) -> None:
    pairs = read_sentence_pairs(shared_datasets / "kor-eng" / "kor.txt")
    assert len(pairs) == 3_798
    assert all(p.attribution.startswith("CC-BY 2.0 (France) Attribution: tatoeba.org #") for p in pairs)
    train = get_dataset("kor-eng", "train", root=shared_datasets / "kor-eng")
    test = get_dataset("kor-eng", "test", root=shared_datasets / "kor-eng")
    assert (len(train), len(test)) == (3_418, 380)
    assert (len(train.meta["src_vocab"]), len(train.meta["tgt_vocab"])) == (5_363, 2_485)   # Seq2SeqConfig defaults
