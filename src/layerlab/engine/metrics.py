"""Metrics accumulated on the device as tensors, read once at the end (no per-step syncs)."""

from __future__ import annotations

import torch
from torch import Tensor


class Meter:
    """Loss, correct predictions and squared/absolute errors over one pass over a dataset.

    `update` only keeps references (one argmax per batch for classification), so the training
    step pays no extra kernels per iteration; `compute` does the sums once, with one sync.
    """

    FLUSH = 1 << 22   # logits held back for one batched argmax, at most this many values (16 MB)

    def __init__(self, task: str, device: torch.device) -> None:
        self.task, self.device = task, device
        self.losses: list[Tensor] = []            # per-batch mean losses
        self.weights: list[int | Tensor] = []     # what each mean is over: samples, or real tokens (seq2seq)
        self.outputs: list[Tensor] = []           # argmax (classification), outputs (regression), correct tokens
        self.targets: list[Tensor] = []
        self.pending: list[Tensor] = []           # classification logits not yet reduced to argmax
        self.pending_size = 0

    def update(self, loss: Tensor, outputs: Tensor, targets: Tensor, loss_is_sum: bool = False) -> None:
        n = targets.shape[0]
        if self.task == "seq2seq":     # logits (B, T, V), token ids (B, T): a token mean, <pad> (id 0) excluded
            real = targets != 0
            self.losses.append(loss.detach())
            self.weights.append(real.sum())
            self.outputs.append(((outputs.argmax(dim=-1) == targets) & real).sum())
            return
        self.losses.append(loss.detach() / n if loss_is_sum else loss.detach())
        self.weights.append(n)
        if self.task == "classification":      # evaluation by argmax, one kernel for many batches
            self.pending.append(outputs.detach())
            self.pending_size += outputs.numel()
            if self.pending_size > self.FLUSH:
                self._flush()
        elif self.task == "binary":
            self.outputs.append(outputs.detach() > 0)
        else:
            outputs = outputs[..., : targets.shape[-1]] if outputs.dim() == targets.dim() else outputs
            self.outputs.append(outputs.detach().reshape(targets.shape))     # (B, 1) vs (B,): no broadcast
        self.targets.append(targets)

    def _flush(self) -> None:
        shapes = {t.shape[1:] for t in self.pending}
        if len(shapes) == 1:
            self.outputs.append(torch.cat(self.pending).argmax(dim=1))
        else:                                   # sequences of different lengths: one by one
            self.outputs.extend(t.argmax(dim=1) for t in self.pending)
        self.pending, self.pending_size = [], 0

    def compute(self, prefix: str = "") -> dict[str, float]:
        if not self.weights:
            return {}
        if self.pending:
            self._flush()
        losses = torch.stack(self.losses).double()
        if self.task == "seq2seq":     # accuracy: next-token predictions under teacher forcing
            tokens = torch.stack(self.weights).double()
            total = tokens.sum().clamp(min=1.0)
            return {f"{prefix}loss": ((losses * tokens).sum() / total).item(),
                    f"{prefix}accuracy": (torch.stack(self.outputs).sum() / total).item()}
        sizes = torch.tensor(self.weights, dtype=torch.float64, device=losses.device)
        out = {f"{prefix}loss": ((losses * sizes).sum() / sizes.sum()).item()}
        outputs = torch.cat([o.reshape(-1) for o in self.outputs])   # flat: sequence lengths may differ
        targets = torch.cat([t.reshape(-1) for t in self.targets])
        if self.task in ("classification", "binary"):
            out[f"{prefix}accuracy"] = (outputs.to(targets.dtype) == targets).double().mean().item()
        else:
            err = outputs.double() - targets.double()
            out[f"{prefix}rmse"] = err.pow(2).mean().sqrt().item()
            out[f"{prefix}mae"] = err.abs().mean().item()
        return out


def confusion_matrix(predictions: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """counts[i, j] = how many samples of true class i were predicted as class j."""
    index = targets.long() * num_classes + predictions.long()
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)
