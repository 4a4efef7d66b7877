"""One number of a feature map, explained: the dot product that produced it and the input pixels it saw.

A conv layer's output at channel c, row y, column x is

    out[c, y, x] = bias[c] + sum over its input channels k and kernel offsets (i, j) of
                   weight[c, k, i, j] * input_padded[k, y*S + i*D, x*S + j*D]

(S the stride, D the dilation; a grouped conv sees only its group's input channels). `explain_pixel`
records the layer's input and output on one forward pass, recomputes that sum term by term, and
checks it against the number PyTorch produced. Its receptive field on the model's input is measured,
not derived: the input pixels whose gradient d out[c, y, x] / d input is non-zero for this image (a
ReLU that is off or a max-pool's losing positions can make it smaller than the layer arithmetic's
full window; it is never larger).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerlab.errors import LayerlabError

TERMS_SHOWN = 7   # the kernel's terms are listed for kernels up to 7x7 (AlexNet's 11x11 would flood the page)


def explain_pixel(model: nn.Module, inputs: Tensor, layer: str, channel: int, y: int, x: int) -> dict[str, Any]:
    """The dot product behind `layer`'s output [channel, y, x] for the batch of one `inputs` (1, C, H, W),
    and the box of model-input pixels it depends on. The model is put in eval mode and left as it was."""
    conv = dict(model.named_modules()).get(layer)
    if not isinstance(conv, nn.Conv2d):
        convs = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
        raise LayerlabError(f"layer {layer!r} is not a conv layer of this model; its conv layers are {', '.join(convs) or 'none'}")
    seen: dict[str, Tensor] = {}
    hook = conv.register_forward_hook(lambda _m, args, out: seen.update(input=args[0], output=out))
    was_training = model.training
    model.eval()
    try:
        image = inputs.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            model(image)
            out = seen["output"]
            _check_position(out, layer, channel, y, x)
            value = out[0, channel, y, x]
            (grad,) = torch.autograd.grad(value, image, allow_unused=True)
    finally:
        hook.remove()
        model.train(was_training)
    terms = dot_product(conv, seen["input"][0].detach().float(), channel, y, x)
    return {"layer": layer, "channel": channel, "y": y, "x": x, "value": float(value.detach()), **terms,
            "region": _region(grad), "input_size": list(inputs.shape[-2:])}


def dot_product(conv: nn.Conv2d, features: Tensor, channel: int, y: int, x: int) -> dict[str, Any]:
    """bias + sum of weight * input over the window of out[channel, y, x]; `features` is the layer's
    input (C_in, H, W). Per input channel contributions, and for the strongest input channel every term."""
    (kh, kw), (sh, sw), (dh, dw) = conv.kernel_size, conv.stride, conv.dilation
    if isinstance(conv.padding, str):   # 'same' / 'valid': the padding PyTorch used
        ph, pw = ((dh * (kh - 1)) // 2, (dw * (kw - 1)) // 2) if conv.padding == "same" else (0, 0)
    else:
        ph, pw = conv.padding
    mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
    padded = F.pad(features[None], (pw, pw, ph, ph), mode=mode)[0] if ph or pw else features
    per_group = conv.in_channels // conv.groups
    group = channel // (conv.out_channels // conv.groups)
    window = padded[group * per_group:(group + 1) * per_group,
                    y * sh: y * sh + dh * (kh - 1) + 1: dh, x * sw: x * sw + dw * (kw - 1) + 1: dw]
    weight = conv.weight[channel].detach().float()                       # (per_group, kh, kw)
    products = weight * window
    per_channel = products.sum(dim=(1, 2))
    bias = float(conv.bias[channel].detach()) if conv.bias is not None else 0.0
    strongest = int(per_channel.abs().argmax())
    shown = kh <= TERMS_SHOWN and kw <= TERMS_SHOWN
    order = per_channel.abs().argsort(descending=True)[:16].tolist()
    return {"bias": bias, "sum": float(per_channel.sum()), "recomputed": float(per_channel.sum()) + bias,
            "kernel": [kh, kw], "stride": [sh, sw], "padding": [ph, pw], "in_channels": per_group,
            "first_in_channel": group * per_group,
            "per_channel": [{"channel": group * per_group + k, "contribution": float(per_channel[k])} for k in order],
            "terms": {"channel": group * per_group + strongest,
                      "weights": weight[strongest].tolist() if shown else None,
                      "inputs": window[strongest].tolist() if shown else None,
                      "sum": float(per_channel[strongest])}}


def _check_position(out: Tensor, layer: str, channel: int, y: int, x: int) -> None:
    _, c, h, w = out.shape
    if not (0 <= channel < c and 0 <= y < h and 0 <= x < w):
        raise LayerlabError(f"{layer} has {c} channels of {h}x{w}; channel {channel}, row {y}, column {x} is outside it")


def _region(grad: Tensor | None) -> dict[str, int] | None:
    """The bounding box (inclusive) of the input pixels with a non-zero gradient; None if there are none."""
    if grad is None:
        return None
    touched = grad[0].abs().sum(dim=0) > 0                               # (H, W)
    rows, cols = touched.any(dim=1).nonzero().flatten(), touched.any(dim=0).nonzero().flatten()
    if not len(rows):
        return None
    return {"top": int(rows[0]), "bottom": int(rows[-1]), "left": int(cols[0]), "right": int(cols[-1]),
            "pixels": int(touched.sum())}
