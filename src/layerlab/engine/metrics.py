"""Metrics accumulated on the device as tensors, read once at the end (no per-step syncs)."""

from __future__ import annotations

import torch
from torch import Tensor


class Meter:
    """Running sums for one pass over a dataset: loss, correct predictions, squared/absolute errors."""

    def __init__(self, task: str, device: torch.device) -> None:
        self.task = task
        zero = torch.zeros((), dtype=torch.float64, device=device)
        self.loss_sum, self.correct, self.sq_err, self.abs_err = zero.clone(), zero.clone(), zero.clone(), zero.clone()
        self.tokens = zero.clone()   # seq2seq: real (non-<pad>) target tokens
        self.count = 0      # samples (host-side int: known without a sync)
        self.elements = 0   # target elements, for regression means

    def update(self, loss: Tensor, outputs: Tensor, targets: Tensor, loss_is_sum: bool = False) -> None:
        n = targets.shape[0]
        if self.task == "seq2seq":     # logits (B, T, V), token ids (B, T): a token mean, <pad> (id 0) excluded
            real = targets != 0
            self.loss_sum += loss.detach().double() * real.sum()
            self.correct += ((outputs.argmax(dim=-1) == targets) & real).sum()
            self.tokens += real.sum()
            self.count += n
            return
        self.loss_sum += loss.detach().double() * (1 if loss_is_sum else n)
        self.count += n
        if self.task == "classification":
            self.correct += (outputs.argmax(dim=1) == targets).sum()     # evaluation by argmax
        elif self.task == "binary":
            self.correct += ((outputs > 0).to(targets.dtype) == targets).sum()
        else:
            err = outputs[..., : targets.shape[-1]].detach().double() - targets.double()
            self.sq_err += err.pow(2).sum()
            self.abs_err += err.abs().sum()
            self.elements += targets.numel()

    def compute(self, prefix: str = "") -> dict[str, float]:
        if self.count == 0:
            return {}
        if self.task == "seq2seq":     # accuracy: next-token predictions under teacher forcing
            tokens = max(self.tokens.item(), 1.0)
            return {f"{prefix}loss": self.loss_sum.item() / tokens, f"{prefix}accuracy": self.correct.item() / tokens}
        out = {f"{prefix}loss": self.loss_sum.item() / self.count}
        if self.task in ("classification", "binary"):
            out[f"{prefix}accuracy"] = self.correct.item() / self.count
        else:
            out[f"{prefix}rmse"] = (self.sq_err.item() / self.elements) ** 0.5
            out[f"{prefix}mae"] = self.abs_err.item() / self.elements
        return out


def confusion_matrix(predictions: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """counts[i, j] = how many samples of true class i were predicted as class j."""
    index = targets.long() * num_classes + predictions.long()
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)
