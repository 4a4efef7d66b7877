"""Sequence-to-sequence batches for the loop, and greedy translation of whole datasets.

A "kor-eng" row holds source ids + <eos> (padded) and <bos> + target ids + <eos> (padded).
Teacher forcing trains the decoder to read target[:-1] and predict target[1:]:
    decoder input  <bos> I   am  fine .
    prediction     I     am  fine .  <eos>
"""

from __future__ import annotations

import torch
from torch import Tensor

from layerlab.data.text import BOS, EOS, PAD
from layerlab.models.seq2seq import Seq2Seq


def teacher_forcing(inputs: Tensor, targets: Tensor, generator: torch.Generator) -> tuple[tuple[Tensor, Tensor], Tensor]:
    """A batch transform: ((source, decoder input), next tokens), cut to the batch's longest sentence.

    The dataset pads every row to the longest sentence of the whole corpus; cutting the all-<pad>
    columns saves decoder steps (the decoder runs once per target column).
    """
    source = inputs[:, : int((inputs != PAD).sum(dim=1).max())]        # (B, S_batch)
    target = targets[:, : int((targets != PAD).sum(dim=1).max())]      # (B, T_batch + 1)
    return (source, target[:, :-1]), target[:, 1:]                     # (B, T_batch) each


@torch.no_grad()
def greedy_translate(model: Seq2Seq, sources: Tensor, max_len: int, batch_size: int = 256) -> list[tuple[list[int], Tensor]]:
    """Greedy translations of source rows (N, S): for each sentence its output ids (without <eos>)
    and its attention weights (output steps including <eos>, real source tokens including <eos>)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    results = []
    for start in range(0, len(sources), batch_size):
        src = sources[start : start + batch_size]
        src = src[:, : int((src != PAD).sum(dim=1).max())].to(device)   # (B, S_batch)
        tokens, attention = model.greedy_decode(src, max_len, bos=BOS, eos=EOS)   # (B, L), (B, L, S_batch)
        for ids, weights, length in zip(tokens.tolist(), attention.cpu(), (src != PAD).sum(dim=1).tolist()):
            steps = ids.index(EOS) + 1 if EOS in ids else len(ids)
            results.append((ids[: steps - 1] if EOS in ids else ids, weights[:steps, :length]))
    model.train(was_training)
    return results
