"""Metrics accumulated on the device as tensors, read once at the end (no per-step syncs)."""

from __future__ import annotations

import torch
from torch import Tensor


class Meter:
    """Loss, correct predictions and squared/absolute errors over one pass over a dataset.

    `update` only keeps references, so the training step pays no extra kernels per iteration.
    Classification logits wait in `pending` and are reduced to a count of correct predictions a
    few dozen batches at a time, while they are still in the CPU's cache (one argmax over the
    whole epoch at its end cost ~2.5 ms more per Fashion-MNIST epoch on the course MLP).
    `compute` does the remaining sums once, with one sync.
    """

    FLUSH = 1 << 16   # logits held back for one batched argmax: 256 KB of float32, fits an L2 cache

    def __init__(self, task: str, device: torch.device) -> None:
        self.task, self.device = task, device
        self.losses: list[Tensor] = []            # per-batch mean losses
        self.weights: list[int | Tensor] = []     # what each mean is over: samples, or real tokens (seq2seq)
        self.outputs: list[Tensor] = []           # outputs (regression, binary), correct counts (classification, seq2seq)
        self.targets: list[Tensor] = []
        self.counted = 0                          # classification: targets compared so far
        self.pending: list[Tensor] = []           # classification logits and their targets, not yet compared
        self.pending_targets: list[Tensor] = []
        self.pending_size = 0

    def update(self, loss: Tensor, outputs: Tensor, targets: Tensor, loss_is_sum: bool = False) -> None:
        n = targets.shape[0]
        if self.task == "classification":      # evaluation by argmax, one kernel for many batches
            self._hold([loss.detach()], [outputs.detach()], [targets], loss_is_sum)
            if self.pending_size > self.FLUSH:
                self._flush()
            return
        if self.task == "seq2seq":     # logits (B, T, V), token ids (B, T): a token mean, <pad> (id 0) excluded
            real = targets != 0
            self.losses.append(loss.detach())
            self.weights.append(real.sum())
            self.outputs.append(((outputs.argmax(dim=-1) == targets) & real).sum())
            return
        self.losses.append(loss.detach() / n if loss_is_sum else loss.detach())
        self.weights.append(n)
        if self.task == "binary":
            self.outputs.append(outputs.detach() > 0)
        else:
            outputs = outputs[..., : targets.shape[-1]] if outputs.dim() == targets.dim() else outputs
            self.outputs.append(outputs.detach().reshape(targets.shape))     # (B, 1) vs (B,): no broadcast
        self.targets.append(targets)

    def extend(self, losses: list[Tensor], outputs: list[Tensor], targets: list[Tensor], loss_is_sum: bool = False) -> None:
        """What `update` does for each of several batches (detached, as `train_step` returns them),
        with one argmax for all of them: `fit` hands over its batches a chunk at a time."""
        if self.task != "classification":
            for loss, batch_outputs, batch_targets in zip(losses, outputs, targets):
                self.update(loss, batch_outputs, batch_targets, loss_is_sum)
            return
        self._hold(losses, outputs, targets, loss_is_sum)
        self._flush()

    def _hold(self, losses: list[Tensor], outputs: list[Tensor], targets: list[Tensor], loss_is_sum: bool) -> None:
        sizes = [t.shape[0] for t in targets]
        self.losses.extend([loss / n for loss, n in zip(losses, sizes)] if loss_is_sum else losses)
        self.weights.extend(sizes)
        self.pending.extend(outputs)
        self.pending_targets.extend(targets)
        self.pending_size += sum(o.numel() for o in outputs)

    def chunk(self, outputs: Tensor, most: int) -> int:
        """How many batches like this one `extend` should take at a time: FLUSH values of logits."""
        return max(1, min(most, self.FLUSH // max(outputs.numel(), 1))) if self.task == "classification" else most

    def _flush(self) -> None:
        logits, targets = self.pending, self.pending_targets
        if len({t.shape[1:] for t in logits}) == 1 and len({t.shape[1:] for t in targets}) == 1:
            self.outputs.append((torch.cat(logits).argmax(dim=1) == torch.cat(targets)).sum())
        else:                                   # sequences of different lengths: one by one
            self.outputs.extend((o.argmax(dim=1) == t).sum() for o, t in zip(logits, targets))
        self.counted += sum(t.numel() for t in targets)
        self.pending, self.pending_targets, self.pending_size = [], [], 0

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
        if self.task == "classification":
            out[f"{prefix}accuracy"] = torch.stack(self.outputs).sum().item() / max(self.counted, 1)
            return out
        outputs = torch.cat([o.reshape(-1) for o in self.outputs])   # flat: sequence lengths may differ
        targets = torch.cat([t.reshape(-1) for t in self.targets])
        if self.task == "binary":
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
