"""Greedy or beam-search translation of whole datasets by a trained encoder-decoder.

Training (teacher forcing) is the TeacherForcing step in layerlab/tasks/sequence.py; here the
decoder reads its own previous word, as it must when there is no reference.
"""

from __future__ import annotations

import torch
from torch import Tensor

from layerlab.data.text import BOS, EOS, PAD
from layerlab.errors import LayerlabError
from layerlab.models.seq2seq import Seq2Seq


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


@torch.no_grad()
def beam_translate(model: Seq2Seq, sources: Tensor, beam_size: int, max_len: int) -> list[tuple[list[int], Tensor]]:
    """Beam search, one sentence at a time: keep the `beam_size` most probable partial translations
    (sum of log-probabilities) at every step instead of only the single best word, as greedy does.
    Same output as `greedy_translate`; beam_size=1 is greedy decoding."""
    if beam_size < 1:
        raise LayerlabError(f"the beam size must be at least 1, got {beam_size}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    results = [_beam_one(model, row[row != PAD].unsqueeze(0).to(device), beam_size, max_len) for row in sources]
    model.train(was_training)
    return results


def _beam_one(model: Seq2Seq, src: Tensor, beam_size: int, max_len: int) -> tuple[list[int], Tensor]:
    enc = model.encode(src)                                             # one sentence: (1, S)
    beams = [(0.0, [], enc.final[0], [])]           # (log-probability, ids, decoder state, attention rows)
    finished: list[tuple[float, list[int], Tensor, list[Tensor]]] = []
    for _ in range(max_len):
        k = len(beams)
        expanded = type(enc)(*(t.expand(k, *t.shape[1:]) for t in enc))   # the same sentence k times
        y = torch.tensor([ids[-1] if ids else BOS for _, ids, _, _ in beams], device=src.device)   # (k,)
        logits, states, alpha = model.decode_step(y, torch.stack([s for _, _, s, _ in beams]), expanded)
        log_probs = torch.log_softmax(logits.float(), dim=-1)          # (k, V)
        top = log_probs.topk(min(beam_size, log_probs.shape[-1]), dim=-1)   # each beam's best next words
        candidates = [(beams[b][0] + lp, beams[b][1] + [tok], states[b], beams[b][3] + [alpha[b].cpu()])
                      for b in range(k) for lp, tok in zip(top.values[b].tolist(), top.indices[b].tolist())]
        candidates.sort(key=lambda c: c[0], reverse=True)
        beams = []
        for candidate in candidates[:beam_size]:
            (finished if candidate[1][-1] == EOS else beams).append(candidate)
        # log-probabilities only fall as a sentence grows: once the best finished translation beats
        # every live one, no continuation can overtake it
        if not beams or (finished and max(f[0] for f in finished) >= beams[0][0]):
            break
    score, ids, _, rows = max(finished + beams, key=lambda c: c[0])
    words = ids[:-1] if ids and ids[-1] == EOS else ids
    return words, torch.stack(rows)
