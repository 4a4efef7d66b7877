"""Losses by name. Each is a plain `torch.nn` module a student could also build by hand.

Course vocabulary: 오차 제곱의 합 (sum of squares), MSE, cross-entropy (교차 엔트로피), the negative
log-likelihood behind maximum likelihood, BCE for yes/no targets, Gaussian NLL for a regression
that also predicts its own uncertainty.
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor, nn
import torch.nn.functional as F

from layerlab.engine.metrics import MAE, RMSE, Accuracy, BinaryAccuracy, MeanLoss, Metric, TokenAccuracy
from layerlab.registry import Registry

LOSSES: Registry[Callable[[], nn.Module]] = Registry("loss", "losses")


class GaussianNLL(nn.Module):
    """Negative log-likelihood of a Gaussian whose mean and log-variance the model predicts.

    The model outputs 2·k columns: k means, then k log-variances (log keeps the variance positive).
    """

    def forward(self, outputs: Tensor, targets: Tensor) -> Tensor:
        mean, log_var = outputs.chunk(2, dim=-1)        # (B, k), (B, k)
        return F.gaussian_nll_loss(mean, targets, log_var.exp(), full=True)


class SequenceCrossEntropy(nn.CrossEntropyLoss):
    """Cross-entropy of every next-token prediction of a batch of sequences; `pad_id` counts for nothing.

    logits (B, T, V) and targets (B, T) are flattened to B·T predictions; the mean is over real
    tokens. `pad_id=None`: every position is real (a character language model's fixed-length pieces).
    """

    def __init__(self, pad_id: int | None = 0) -> None:
        super().__init__(ignore_index=-100 if pad_id is None else pad_id)
        self.pad_id = pad_id          # what a step weighs a batch's mean by: its real tokens

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return super().forward(logits.flatten(0, 1), targets.flatten())     # (B·T, V), (B·T,)


class CTCLoss(nn.CTCLoss):
    """CTC loss (Graves et al., 2006): -log of the summed probability of every path of columns that
    spells the label (layerlab.engine.ctc shows paths and decoding). Class 0 is the blank.

    logits (B, T, K) per column; targets a dict of labels (B, S) (class ids 1..K-1, padded),
    label_lengths (B,) and input_lengths (B,) (the columns each image really has). The mean is
    per sequence, not per character: nats per captcha, the number Keras's CTC example reports.
    """

    def __init__(self) -> None:
        super().__init__(blank=0, reduction="none", zero_infinity=False)

    def forward(self, logits: Tensor, targets: dict[str, Tensor]) -> Tensor:
        log_probs = logits.float().log_softmax(dim=-1).transpose(0, 1)      # (T, B, K): the layout torch's CTC wants
        losses = super().forward(log_probs, targets["labels"], targets["input_lengths"], targets["label_lengths"])
        return losses.mean()                                                  # (B,) -> one number per batch


@LOSSES.register("sum_of_squares", task="regression", description="Σ (prediction - target)², the course's first loss")
def sum_of_squares() -> nn.Module:
    return nn.MSELoss(reduction="sum")


@LOSSES.register("mse", task="regression", description="mean squared error")
def mse() -> nn.Module:
    return nn.MSELoss()


@LOSSES.register("cross_entropy", task="classification", description="softmax + negative log-likelihood of the true class")
def cross_entropy() -> nn.Module:
    return nn.CrossEntropyLoss()


@LOSSES.register("nll", task="classification", description="negative log-likelihood of log-probabilities (after log_softmax)")
def nll() -> nn.Module:
    return nn.NLLLoss()


@LOSSES.register("bce", task="binary", description="binary cross-entropy of probabilities (after sigmoid)")
def bce() -> nn.Module:
    return nn.BCELoss()


@LOSSES.register("bce_with_logits", task="binary", description="sigmoid + binary cross-entropy, numerically stable")
def bce_with_logits() -> nn.Module:
    return nn.BCEWithLogitsLoss()


@LOSSES.register("gaussian_nll", task="regression", description="Gaussian negative log-likelihood (mean and log-variance outputs)")
def gaussian_nll() -> nn.Module:
    return GaussianNLL()


@LOSSES.register("sequence_cross_entropy", task="seq2seq",
                 description="cross-entropy over the tokens of padded target sentences (seq2seq, teacher forcing)")
def sequence_cross_entropy() -> nn.Module:
    return SequenceCrossEntropy()


@LOSSES.register("ctc", task="ctc",
                 description="connectionist temporal classification: text from per-column scores, no positions (blank = 0)")
def ctc() -> nn.Module:
    return CTCLoss()


def get_loss(name: str | nn.Module) -> nn.Module:
    """A loss module from its name; a module passes through (so students can bring their own)."""
    return name if isinstance(name, nn.Module) else LOSSES.get(_canonical(name)).obj()


def loss_metrics(loss_fn: nn.Module) -> dict[str, Metric]:
    """The metrics a loss implies, declared by the loss's type (never guessed from a name):
    classification losses score argmax accuracy, BCE yes/no accuracy at the threshold its outputs
    need (0 for logits, 0.5 for probabilities), squared error RMSE and MAE. A loss not listed here
    reports its mean only; pass `metrics=` to fit/evaluate for more."""
    metrics: dict[str, Metric] = {"loss": MeanLoss()}
    if isinstance(loss_fn, SequenceCrossEntropy):
        metrics["accuracy"] = Accuracy(class_dim=-1) if loss_fn.pad_id is None else TokenAccuracy(pad_id=loss_fn.pad_id)
    elif isinstance(loss_fn, (nn.CrossEntropyLoss, nn.NLLLoss)):
        ignore = loss_fn.ignore_index
        metrics["accuracy"] = Accuracy(ignore_index=ignore if ignore >= 0 else None)
    elif isinstance(loss_fn, nn.BCEWithLogitsLoss):
        metrics["accuracy"] = BinaryAccuracy(threshold=0.0)        # logits: sigmoid(0) = 0.5
    elif isinstance(loss_fn, nn.BCELoss):
        metrics["accuracy"] = BinaryAccuracy(threshold=0.5)        # probabilities
    elif isinstance(loss_fn, (nn.MSELoss, nn.L1Loss, nn.HuberLoss, nn.SmoothL1Loss)):
        metrics |= {"rmse": RMSE(), "mae": MAE()}
    return metrics


def _canonical(name: str) -> str:
    return name.replace("-", "_").lower()
