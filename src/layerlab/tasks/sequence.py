"""Sequence-to-sequence training with teacher forcing (course unit: Attention Mechanism).

A "kor-eng" row holds source ids + <eos> (padded) and <bos> + target ids + <eos> (padded).
Teacher forcing trains the decoder to read the target shifted right and predict the next token,
feeding it the true previous word rather than its own guess:
    decoder input  <bos> I   am  fine .
    prediction     I     am  fine .  <eos>
The loss and the accuracy count real tokens only: <pad> weighs nothing.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from layerlab.engine.losses import SequenceCrossEntropy
from layerlab.engine.metrics import MeanLoss, Metrics, TokenAccuracy
from layerlab.engine.optim import get_optimizer
from layerlab.engine.step import Step, autocast


class TeacherForcing(Step):
    """Train an encoder-decoder `model(source, decoder_input) -> (logits, attention)` on padded sentence pairs."""

    def __init__(self, model: nn.Module, *, pad_id: int, optimizer: str = "adam", lr: float = 1e-3,
                 clip_grad_norm: float | None = None, amp: bool = False) -> None:
        self.model = self.forward_model = model           # forward_model: what training calls (DDP under torchrun)
        self.models = {"model": model}
        self.optimizers = {"optimizer": get_optimizer(optimizer, model, lr)}
        self.loss_fn = SequenceCrossEntropy(pad_id)
        self.pad_id, self.clip_grad_norm, self.amp = pad_id, clip_grad_norm, amp

    def _shift(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """(source, decoder input, next tokens), cut to the batch's longest sentence: the dataset pads
        every row to the corpus's longest, and each all-<pad> column would cost a decoder step."""
        source, target = batch
        source = source[:, : int((source != self.pad_id).sum(dim=1).max())]      # (B, S_batch)
        target = target[:, : int((target != self.pad_id).sum(dim=1).max())]      # (B, T_batch + 1)
        return source, target[:, :-1], target[:, 1:]                            # (B, T_batch) each

    def _values(self, loss: Tensor, logits: Tensor, next_tokens: Tensor) -> dict[str, Any]:
        return {"loss": loss.detach(), "count": (next_tokens != self.pad_id).sum(), "outputs": logits.detach(),
                "targets": next_tokens}

    def train(self, batch: tuple[Tensor, Tensor]) -> dict[str, Any]:
        source, decoder_input, next_tokens = self._shift(batch)
        optimizer = self.optimizers["optimizer"]
        with autocast(source.device, self.amp):
            logits, _ = self.forward_model(source, decoder_input)  # (B, T, V); the attention is for looking at
            loss = self.loss_fn(logits, next_tokens)             # mean over real tokens
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip_grad_norm is not None:                      # recurrent nets: an occasional huge gradient
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        optimizer.step()
        return self._values(loss, logits, next_tokens)

    def evaluate(self, batch: tuple[Tensor, Tensor]) -> dict[str, Any]:
        source, decoder_input, next_tokens = self._shift(batch)
        with autocast(source.device, self.amp):
            logits, _ = self.model(source, decoder_input)
            loss = self.loss_fn(logits.float(), next_tokens)
        return self._values(loss.float(), logits.float(), next_tokens)

    def metrics(self) -> Metrics:
        return Metrics({"loss": MeanLoss(), "accuracy": TokenAccuracy(pad_id=self.pad_id)})

