"""`summary(model, input_shape)`: what each layer does to the shape, and what it costs.

Every parameter count comes with the formula a student checks by hand, e.g.
`Linear 784→64: 784·64 + 64 = 50,240` or `Conv2d 3→64 k3: 3·3·3·64 + 64 = 1,792`.
Weights shared by two layers are counted once (the second use shows 0 and says "shared").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

_RNN_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


@dataclass
class LayerRow:
    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    formula: str
    macs: int
    trainable: bool


@dataclass
class Summary:
    """A per-layer table plus totals. `str(summary)` is the table the CLI prints."""

    rows: list[LayerRow] = field(default_factory=list)
    input_shape: tuple[int, ...] | tuple[tuple[int, ...], ...] = ()   # per sample; one shape per input when the forward takes several
    total_params: int = 0
    trainable_params: int = 0
    total_macs: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"input_shape": list(self.input_shape), "total_params": self.total_params,
                "trainable_params": self.trainable_params, "total_macs": self.total_macs,
                "layers": [{**asdict(r), "output_shape": list(r.output_shape)} for r in self.rows]}

    def __str__(self) -> str:
        wide = max([16, *(len(r.type) for r in self.rows)])   # "Project (ConvTranspose2d)" and the like
        header = f"{'layer':<28} {'type':<{wide}} {'output shape':<20} {'parameters':>12}  formula"
        lines = [f"input: {tuple(self.input_shape)}", header, "-" * len(header)]
        for r in self.rows:
            shape = "(" + ", ".join(str(d) for d in r.output_shape) + ")"
            flag = "" if r.trainable else "  [frozen]"
            lines.append(f"{r.name:<28} {r.type:<{wide}} {shape:<20} {r.params:>12,}  {r.formula}{flag}")
        lines.append("-" * len(header))
        lines.append(f"total parameters: {self.total_params:,}  (trainable {self.trainable_params:,})")
        lines.append(f"multiply-accumulates per sample: {self.total_macs:,}")
        return "\n".join(lines)


def summary(
    model: nn.Module, inputs: tuple[int, ...] | Tensor | tuple[Tensor, ...], *, dtype: torch.dtype = torch.float32
) -> Summary:
    """Run one forward pass and tabulate each layer.

    `inputs` is an input shape without the batch dimension (a zero batch of one of `dtype` is
    made), or an example batch: a tensor, or a tuple of tensors that the forward takes as separate
    arguments (a seq2seq model's `(src, tgt_in)`). Output shapes and multiply-accumulates are per
    sample. A shape that does not fit the model raises torch's own error (usually RuntimeError).
    """
    example = _as_batch(inputs, dtype, _device(model))
    rows: list[LayerRow] = []
    seen: set[int] = set()
    hooks = [module.register_forward_hook(_recorder(name, rows, seen))
             for name, module in model.named_modules() if _is_layer(module) and name]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(*example)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    shapes = tuple(tuple(x.shape[1:]) for x in example)
    params = {id(p): p for p in model.parameters()}.values()  # shared weights once
    return Summary(rows, shapes[0] if len(shapes) == 1 else shapes, sum(p.numel() for p in params),
                   sum(p.numel() for p in params if p.requires_grad), sum(r.macs for r in rows))


def _as_batch(inputs: tuple[int, ...] | Tensor | tuple[Tensor, ...], dtype: torch.dtype,
              device: torch.device) -> tuple[Tensor, ...]:
    """The forward's arguments: the example tensors as given, or one zero batch of the shape."""
    if isinstance(inputs, Tensor):
        return (inputs.to(device),)
    if inputs and all(isinstance(x, Tensor) for x in inputs):
        return tuple(x.to(device) for x in inputs)
    return (torch.zeros((1, *inputs), dtype=dtype, device=device),)


def _is_layer(module: nn.Module) -> bool:
    # leaves, and modules that own parameters directly (an RNN layer, a custom cell)
    return not any(True for _ in module.children()) or any(True for _ in module.parameters(recurse=False))


def _recorder(name: str, rows: list[LayerRow], seen: set[int]):
    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        if any(r.name == name for r in rows):   # a module called twice is listed once
            return
        own = [p for p in module.parameters(recurse=False)] if any(module.children()) else list(module.parameters())
        fresh = [p for p in own if id(p) not in seen]
        seen.update(id(p) for p in own)
        count = sum(p.numel() for p in fresh)
        formula = _formula(module, count) if fresh or not own else "shared weights, counted once"
        out = _first_tensor(output)
        rows.append(LayerRow(name, _type_name(module), tuple(out.shape[1:]) if out is not None else (),
                             count, formula, _macs(module, inputs, out), all(p.requires_grad for p in own) if own else True))

    return hook


def _type_name(module: nn.Module) -> str:
    """The class's name; for a subclass of one of torch's layers that computes it another way (models/gan.py's
    Project is a ConvTranspose2d), the torch layer's name too: "Project (ConvTranspose2d)"."""
    cls = type(module)
    if cls.__module__.startswith("torch."):
        return cls.__name__
    torch_layer = next((base for base in cls.__mro__[1:] if base.__module__.startswith("torch.nn.modules.")
                        and base is not nn.Module and not base.__name__.startswith("_")), None)
    return cls.__name__ if torch_layer is None else f"{cls.__name__} ({torch_layer.__name__})"


def _formula(module: nn.Module, count: int) -> str:
    if isinstance(module, nn.Linear):
        bias = f" + {module.out_features}" if module.bias is not None else ""
        return f"{module.in_features}·{module.out_features}{bias} = {count:,}"
    if isinstance(module, nn.modules.conv._ConvNd):
        k = "·".join(str(s) for s in module.kernel_size)
        per_group = module.in_channels // module.groups
        bias = f" + {module.out_channels}" if module.bias is not None else ""
        return f"{k}·{per_group}·{module.out_channels}{bias} = {count:,}"
    if isinstance(module, nn.modules.batchnorm._NormBase) and module.affine:
        return f"2·{module.num_features} = {count:,}  (scale and shift)"
    if isinstance(module, nn.Embedding):
        return f"{module.num_embeddings}·{module.embedding_dim} = {count:,}"
    if isinstance(module, nn.RNNBase):
        gates, h, i = _RNN_GATES.get(module.mode.split("_")[0], 1), module.hidden_size, module.input_size
        return f"{gates}·{h}·({i} + {h} + 2) + … per layer = {count:,}" if module.num_layers > 1 else \
            f"{gates}·{h}·({i} + {h} + 2) = {count:,}"
    shapes = [("·".join(str(d) for d in p.shape) or "1") for p in module.parameters(recurse=False)]
    return f"{' + '.join(shapes)} = {count:,}" if shapes else "no parameters"


def _macs(module: nn.Module, inputs: Any, out: Tensor | None) -> int:
    if out is None:
        return 0
    if isinstance(module, nn.Linear):
        return out[0].numel() * module.in_features
    if isinstance(module, nn.modules.conv._ConvNd):
        k = 1
        for s in module.kernel_size:
            k *= s
        return out[0].numel() * k * module.in_channels // module.groups
    if isinstance(module, nn.RNNBase):
        x = inputs[0]
        if isinstance(x, PackedSequence):   # one entry of batch_sizes per time step
            steps = len(x.batch_sizes)
        else:
            steps = x.shape[1] if module.batch_first else x.shape[0]
        gates = _RNN_GATES.get(module.mode.split("_")[0], 1)
        h = module.hidden_size
        first = gates * h * (module.input_size + h)
        rest = gates * h * (h * (2 if module.bidirectional else 1) + h) * (module.num_layers - 1)
        return steps * (first + rest) * (2 if module.bidirectional else 1)
    return 0


def _first_tensor(value: Any) -> Tensor | None:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _device(model: nn.Module) -> torch.device:
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else torch.device("cpu")
