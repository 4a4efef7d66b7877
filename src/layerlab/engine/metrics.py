"""Metrics as objects that keep running sums (torchmetrics' idea, in a few lines each).

A metric reads some of the values a step returns for one batch (`reads` names them), adds them to
its sums, and turns the sums into one number at the end of a pass (`compute`). Its state is a
handful of sums on the device: the memory of one batch, not of an epoch, and a distributed run
adds every process's sums with one all-reduce (`Metrics.sums` / `Metrics.load_sums`). Each metric
declares whether higher is better, so early stopping and the curves never guess from a name.

    metrics = Metrics({"loss": MeanLoss(), "accuracy": Accuracy()})
    metrics.update({"loss": loss, "count": 64, "outputs": logits, "targets": labels})   # per batch
    metrics.compute("val_")  ->  {"val_loss": 0.31, "val_accuracy": 0.91}
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from layerlab.engine.bleu import ngrams
from layerlab.errors import LayerlabError


class Metric(ABC):
    """Running sums, one update per batch, one number at the end.

    Subclasses set `reads` (the keys of the step's per-batch values that `update` takes, in order),
    `higher_is_better` and `size` (how many sums), and implement `update` and `compute`.
    """

    reads: tuple[str, ...] = ("outputs", "targets")
    higher_is_better: bool = True
    size: int = 2

    def __init__(self) -> None:
        self.device: torch.device | None = None
        self.state = torch.zeros(self.size, dtype=torch.float64)

    def reset(self) -> None:
        self.state = torch.zeros(self.size, dtype=torch.float64, device=self.device)

    def _add(self, *values: Tensor | float) -> None:
        """Add one batch's contributions to the sums (tensors stay on their device: no sync)."""
        first = next((v for v in values if isinstance(v, Tensor)), None)
        device = first.device if first is not None else self.state.device
        self._add_vector(torch.stack([torch.as_tensor(v, dtype=torch.float64, device=device) for v in values]))

    def _add_vector(self, values: Tensor) -> None:
        if self.state.device != values.device:     # the sums live where the batches are
            self.device = values.device
            self.state = self.state.to(values.device)
        self.state += values.double()

    @abstractmethod
    def update(self, *values: Any) -> None:
        """Add one batch: the values named by `reads`, in that order."""

    def sums(self) -> Tensor:
        """The running sums as one float64 vector (what a distributed run all-reduces)."""
        return self.state

    def load_sums(self, sums: Tensor) -> None:
        self.state = sums.to(self.state.device, torch.float64).clone()

    @abstractmethod
    def compute(self) -> float:
        """The metric of everything added since the last reset."""


def _ratio(numerator: Tensor, denominator: Tensor) -> float:
    """numerator / denominator as a float; NaN for an empty pass (nothing was counted)."""
    den = float(denominator)
    return float(numerator) / den if den > 0 else float("nan")


class _Held(Metric):
    """A ratio of two sums whose batches wait in lists and are reduced many at a time (`_flush`)."""

    @abstractmethod
    def _flush(self) -> None:
        """Add the held batches to the sums and empty the lists."""

    def sums(self) -> Tensor:
        self._flush()
        return self.state

    def compute(self) -> float:
        self._flush()
        return _ratio(self.state[0], self.state[1])


class MeanLoss(_Held):
    """The mean of a per-batch loss over every sample (or token) of the pass.

    A batch's loss is already a mean over its `count` items, so batches weigh by their size: a last
    batch of 16 after batches of 64 counts a quarter as much, exactly as if the loss were averaged
    over all samples at once. Losses wait in a list and are summed a few hundred at a time (one
    kernel instead of two per step; benchmarks/fit_vs_hand.py).
    """

    higher_is_better = False
    FLUSH = 256

    def __init__(self, key: str = "loss") -> None:
        super().__init__()
        self.reads = (key, "count")
        self._losses: list[Tensor] = []
        self._counts: list[int | Tensor] = []

    def reset(self) -> None:
        super().reset()
        self._losses, self._counts = [], []

    def update(self, loss: Tensor, count: int | Tensor) -> None:
        self._losses.append(loss)
        self._counts.append(count)
        if len(self._losses) >= self.FLUSH:
            self._flush()

    def _flush(self) -> None:
        if not self._losses:
            return
        losses = torch.stack(self._losses).double()
        if all(isinstance(c, int) for c in self._counts):
            counts = torch.tensor(self._counts, dtype=torch.float64, device=losses.device)
        else:
            counts = torch.stack([torch.as_tensor(c, device=losses.device) for c in self._counts]).double()
        self._add((losses * counts).sum(), counts.sum())
        self._losses, self._counts = [], []



class Accuracy(_Held):
    """The fraction of predictions whose argmax is the target: evaluation by argmax.

    `class_dim` is where the class scores are: 1 for (N, C) logits and (N, C, H, W) score maps
    (pixel accuracy), -1 for (B, T, V) token logits. Targets equal to `ignore_index` (padding, an
    unlabelled pixel) count for nothing. Logits wait and are compared ~64K values at a time, while
    they are still in the CPU's cache (one argmax per ~50 course-MLP batches; benchmarks/fit_vs_hand.py).
    """

    FLUSH = 1 << 16

    def __init__(self, *, ignore_index: int | None = None, class_dim: int = 1) -> None:
        super().__init__()
        self.ignore_index, self.class_dim = ignore_index, class_dim
        self._outputs: list[Tensor] = []
        self._targets: list[Tensor] = []
        self._held = 0

    def reset(self) -> None:
        super().reset()
        self._outputs, self._targets, self._held = [], [], 0

    def update(self, outputs: Tensor, targets: Tensor) -> None:
        self._outputs.append(outputs)
        self._targets.append(targets)
        self._held += outputs.numel()
        if self._held >= self.FLUSH:
            self._flush()

    def _flush(self) -> None:
        if not self._outputs:
            return
        same_shape = len({o.shape[1:] for o in self._outputs}) == 1 and len({t.shape[1:] for t in self._targets}) == 1
        pairs = [(torch.cat(self._outputs), torch.cat(self._targets))] if same_shape else zip(self._outputs, self._targets)
        for outputs, targets in pairs:
            predicted = outputs.argmax(dim=self.class_dim)
            if predicted.shape != targets.shape:
                raise LayerlabError(f"accuracy needs one target per prediction: the model's scores give "
                                    f"{tuple(predicted.shape)} predictions but the targets are {tuple(targets.shape)}")
            if self.ignore_index is None:
                self._add((predicted == targets).sum(), targets.numel())
            else:
                real = targets != self.ignore_index
                self._add(((predicted == targets) & real).sum(), real.sum())
        self._outputs, self._targets, self._held = [], [], 0



class TokenAccuracy(Accuracy):
    """Next-token accuracy of (B, T, V) logits against (B, T) token ids; `pad_id` (from the data) ignored."""

    def __init__(self, *, pad_id: int) -> None:
        super().__init__(ignore_index=pad_id, class_dim=-1)


class PixelAccuracy(Accuracy):
    """The fraction of pixels classified right: (B, C, H, W) scores against a (B, H, W) mask."""

    def __init__(self, *, ignore_index: int | None = None) -> None:
        super().__init__(ignore_index=ignore_index, class_dim=1)


class BinaryAccuracy(Metric):
    """Yes/no accuracy: an output above `threshold` means class 1.

    The threshold depends on what the model outputs, so the caller says it: 0.0 for logits (before
    the sigmoid; sigmoid(0) = 0.5), 0.5 for probabilities (after it).
    """

    def __init__(self, *, threshold: float) -> None:
        super().__init__()
        self.threshold = threshold

    def update(self, outputs: Tensor, targets: Tensor) -> None:
        outputs = _same_shape(outputs, targets, "binary accuracy")
        self._add(((outputs > self.threshold) == (targets > 0.5)).sum(), targets.numel())

    def compute(self) -> float:
        return _ratio(self.state[0], self.state[1])


def _same_shape(outputs: Tensor, targets: Tensor, what: str) -> Tensor:
    """Outputs shaped like the targets; (N, 1) against (N,) is the same column. Anything else is an error."""
    if outputs.shape == targets.shape:
        return outputs
    if outputs.numel() == targets.numel() and outputs.squeeze(-1).shape == targets.squeeze(-1).shape:
        return outputs.reshape(targets.shape)
    raise LayerlabError(f"{what} compares outputs with targets of the same shape, but the model gives "
                        f"{tuple(outputs.shape)} and the targets are {tuple(targets.shape)} (does the last layer "
                        "have as many outputs as there are target columns?)")


class RMSE(Metric):
    """Root of the mean squared error over every target value, in the targets' units."""

    higher_is_better = False

    def update(self, outputs: Tensor, targets: Tensor) -> None:
        err = _same_shape(outputs, targets, "RMSE").double() - targets.double()
        self._add(err.pow(2).sum(), targets.numel())

    def compute(self) -> float:
        return _ratio(self.state[0], self.state[1]) ** 0.5


class MSE(RMSE):
    """Mean squared error over every target value (RMSE's sums, without the root): for pixels on [0, 1],
    a reconstruction error any framework computes the same way."""

    def compute(self) -> float:
        return _ratio(self.state[0], self.state[1])


class MAE(Metric):
    """Mean absolute error over every target value."""

    higher_is_better = False

    def update(self, outputs: Tensor, targets: Tensor) -> None:
        err = _same_shape(outputs, targets, "MAE").double() - targets.double()
        self._add(err.abs().sum(), targets.numel())

    def compute(self) -> float:
        return _ratio(self.state[0], self.state[1])


class MeanIoU(Metric):
    """Mean intersection over union of the classes of a segmentation: the sums are a confusion matrix.

    IoU of class c = pixels both predicted and labelled c / pixels predicted or labelled c. Classes
    that appear in neither (union 0) are left out of the mean rather than counted as 0 or 1.
    """

    def __init__(self, *, num_classes: int, ignore_index: int | None = None) -> None:
        self.size = num_classes * num_classes
        super().__init__()
        self.num_classes, self.ignore_index = num_classes, ignore_index

    def update(self, outputs: Tensor, targets: Tensor) -> None:
        predicted = outputs.argmax(dim=1) if outputs.dim() == targets.dim() + 1 else outputs
        keep = targets != self.ignore_index if self.ignore_index is not None else torch.ones_like(targets, dtype=torch.bool)
        index = targets[keep].long() * self.num_classes + predicted[keep].long()
        self._add_vector(torch.bincount(index, minlength=self.size))

    def per_class(self) -> Tensor:
        """IoU of each class (NaN where the class appears in neither prediction nor target)."""
        matrix = self.state.view(self.num_classes, self.num_classes)
        inter = matrix.diagonal()
        union = matrix.sum(0) + matrix.sum(1) - inter
        return torch.where(union > 0, inter / union.clamp(min=1), torch.full_like(inter, float("nan")))

    def compute(self) -> float:
        iou = self.per_class()
        present = ~iou.isnan()
        return float(iou[present].mean()) if bool(present.any()) else float("nan")


def edit_distance(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions that turn a into b."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


class CER(Metric):
    """Character error rate: edit distance to the reference / reference length, summed over the pass."""

    reads = ("predictions", "references")
    higher_is_better = False

    def update(self, predictions: Sequence[Sequence[Any]], references: Sequence[Sequence[Any]]) -> None:
        if len(predictions) != len(references):
            raise LayerlabError(f"CER needs one reference per prediction: got {len(predictions)} and {len(references)}")
        self._add(sum(edit_distance(p, r) for p, r in zip(predictions, references)), sum(map(len, references)))

    def compute(self) -> float:
        return _ratio(self.state[0], self.state[1])


class BLEU(Metric):
    """Corpus BLEU-`max_n` (engine/bleu.py has the formula) from sums: per order n the clipped n-gram
    matches and the candidate n-grams, then candidate and reference lengths."""

    reads = ("predictions", "references")

    def __init__(self, *, max_n: int = 4) -> None:
        if max_n < 1:
            raise LayerlabError(f"BLEU's n-gram order must be at least 1, got {max_n}")
        self.size = 2 * max_n + 2
        super().__init__()
        self.max_n = max_n

    def update(self, predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> None:
        if len(predictions) != len(references):
            raise LayerlabError(f"BLEU needs one reference per candidate: got {len(predictions)} and {len(references)}")
        sums = [0] * self.size
        for candidate, reference in zip(predictions, references):
            for n in range(1, self.max_n + 1):
                counts, ref_counts = ngrams(candidate, n), ngrams(reference, n)
                sums[2 * n - 2] += sum(min(c, ref_counts[g]) for g, c in counts.items())
                sums[2 * n - 1] += sum(counts.values())
            sums[-2] += len(candidate)
            sums[-1] += len(reference)
        self._add(*sums)

    def compute(self) -> float:
        s = self.state.tolist()
        if any(s[2 * n] == 0 for n in range(self.max_n)):
            return 0.0                        # an order without any match: log 0, BLEU 0
        log_p = sum(math.log(s[2 * n] / s[2 * n + 1]) for n in range(self.max_n)) / self.max_n
        c, r = s[-2], s[-1]
        penalty = 1.0 if c > r else math.exp(1 - r / c)
        return penalty * math.exp(log_p)


class Metrics:
    """The metrics of one pass by name: update them all from a step's values, compute them all at once."""

    def __init__(self, metrics: dict[str, Metric]) -> None:
        self.metrics = dict(metrics)

    def __getitem__(self, name: str) -> Metric:
        return self.metrics[name]

    def __contains__(self, name: str) -> bool:
        return name in self.metrics

    def update(self, values: dict[str, Any]) -> None:
        for name, metric in self.metrics.items():
            try:                                  # per step: look the values up once, explain only a miss
                args = [values[key] for key in metric.reads]
            except KeyError as missing:
                raise LayerlabError(f"metric {name!r} reads {missing.args[0]!r}, but the step returns only "
                                    f"{sorted(values)}") from None
            metric.update(*args)

    def reset(self) -> None:
        for metric in self.metrics.values():
            metric.reset()

    def sums(self) -> Tensor:
        """Every metric's sums in one vector: a distributed run all-reduces this once per pass."""
        return torch.cat([metric.sums().cpu() for metric in self.metrics.values()]) if self.metrics else torch.zeros(0)

    def load_sums(self, sums: Tensor) -> None:
        start = 0
        for metric in self.metrics.values():
            metric.load_sums(sums[start : start + metric.size])
            start += metric.size

    def compute(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}{name}": metric.compute() for name, metric in self.metrics.items()}

    def higher_is_better(self, name: str) -> bool:
        return self.metrics[name].higher_is_better


def confusion_matrix(predictions: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """counts[i, j] = how many samples of true class i were predicted as class j."""
    index = targets.long() * num_classes + predictions.long()
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)
