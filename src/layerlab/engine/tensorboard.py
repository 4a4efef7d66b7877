"""`--tensorboard`: a run's per-epoch metrics also as TensorBoard event files, in RUN_DIR/tensorboard.

    tensorboard --logdir runs        # every run under runs/, its curves side by side

metrics.jsonl stays the record; the event files are rewritten from it whenever it is (each
epoch), so a resumed run has one clean history, not two. A number called `train_loss` becomes
the scalar `loss/train` (TensorBoard puts `loss/train` and `loss/val` in one section); other
numbers keep their names; the step is the epoch, and a stage other than "main" prefixes the tag.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from layerlab.errors import LayerlabError

_SPLIT = re.compile(r"^(train|val|test)_(.+)$")


def require_tensorboard() -> None:
    """A one-line error now, before training, if the tensorboard package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise LayerlabError("--tensorboard needs the tensorboard package: pip install tensorboard "
                            "(or pip install 'layerlab[tensorboard]')") from None


def tag(name: str, stage: str = "main") -> str:
    """The scalar's TensorBoard name: train_loss -> loss/train; lr -> lr; stage 'plain' -> plain/loss/train."""
    match = _SPLIT.match(name)
    base = f"{match.group(2)}/{match.group(1)}" if match else name
    return base if stage == "main" else f"{stage}/{base}"


def write_events(folder: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite `folder` as event files holding every number of `rows` (metrics.jsonl's rows)."""
    require_tensorboard()
    from torch.utils.tensorboard import SummaryWriter

    shutil.rmtree(folder, ignore_errors=True)
    with SummaryWriter(log_dir=str(folder)) as writer:
        for i, row in enumerate(rows):
            step = int(row.get("epoch", i + 1))
            for name, value in row.items():
                if name in ("epoch", "stage") or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                writer.add_scalar(tag(name, str(row.get("stage", "main"))), value, global_step=step)
