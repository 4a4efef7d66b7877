"""Tensor-only batch transforms: a student can print every one of them.

A transform takes and returns a whole batch `(inputs, targets)`; random ones draw from the
loader's generator, so a run is repeatable batch by batch.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from layerlab.data.tensors import Batch, BatchTransform, Targets, TensorData, host_to_device, tell_epoch
from layerlab.errors import LayerlabError


def to_float(inputs: Tensor) -> Tensor:
    """uint8 pixels 0..255 -> float32 0..1; float inputs pass through unchanged."""
    return inputs.float().div_(255.0) if inputs.dtype == torch.uint8 else inputs.float()


def normalize(inputs: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """(x - mean) / std per channel (dim 1)."""
    shape = (1, -1) + (1,) * (inputs.dim() - 2)
    mean_t = torch.as_tensor(mean, dtype=inputs.dtype, device=inputs.device).view(shape)
    std_t = torch.as_tensor(std, dtype=inputs.dtype, device=inputs.device).view(shape)
    return (inputs - mean_t) / std_t


def compose(*steps: BatchTransform) -> BatchTransform:
    """The steps one after another; the epoch a loader announces (`set_epoch`) reaches each of them."""
    def run(inputs: Tensor, targets: Tensor, g: torch.Generator) -> Batch:
        for step in steps:
            inputs, targets = step(inputs, targets, g)
        return inputs, targets

    def set_epoch(epoch: int) -> None:
        for step in steps:
            tell_epoch(step, epoch)

    run.set_epoch = set_epoch  # type: ignore[attr-defined]
    return run


class Ramp:
    """A curriculum for augmentation: `make(strength)` builds the transform of one epoch, the strength
    rising linearly from 0 in epoch 1 to 1 in epoch `epochs` + 1 and staying at 1 after that.

    Example: `Ramp(lambda s: random_affine(degrees=4 * s, shift=(8 * s, 3 * s)), epochs=20)`: epoch 1 moves
    nothing, epoch 11 up to ±2° and ±4 px, epochs 21 on the full moves: easy examples first, the
    full augmentation once the net has its bearings. Measured in crnn-captcha (`--ramp 20`): it took
    one 832 / 208 split from 0.0 to 0.99 and another from 0.99 to 0.58, so it is an option there, not
    the default (random_join was the fix). The loaders announce each epoch (`set_epoch`), so a
    resumed run ramps exactly like an uninterrupted one. `epochs=0`: full strength from the start.
    """

    def __init__(self, make: Callable[[float], BatchTransform], epochs: int) -> None:
        if not (isinstance(epochs, int) and epochs >= 0):
            raise LayerlabError(f"a Ramp's epochs must be a whole number >= 0, got {epochs!r}")
        self.make, self.epochs = make, epochs
        self.set_epoch(1)

    def strength(self, epoch: int) -> float:
        """0 in epoch 1, 1 from epoch `epochs` + 1 on."""
        return 1.0 if self.epochs == 0 else min(1.0, max(0, epoch - 1) / self.epochs)

    def set_epoch(self, epoch: int) -> None:
        self.current = self.make(self.strength(epoch))

    def __call__(self, inputs: Tensor, targets: Targets, g: torch.Generator) -> Batch:
        return self.current(inputs, targets, g)


def float_normalize(mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> BatchTransform:
    """The usual first transform: pixels to floats in [0, 1], then (x - mean) / std if given.

    Done as x.float() · 1/(255·std) + (-mean/std), the last two in place: three cheap kernels
    (torch.addcmul straight from uint8 measured ~3x slower on this CPU, the textbook five-step
    version slower still).
    """
    constants: dict[tuple, tuple[Tensor, Tensor]] = {}

    def run(inputs: Tensor, targets: Tensor, g: torch.Generator) -> Batch:
        if mean is None or std is None:
            return to_float(inputs), targets
        key = (inputs.dtype, inputs.device, inputs.dim())
        if key not in constants:
            shape = (1, -1) + (1,) * (inputs.dim() - 2)
            mean_t = torch.as_tensor(mean, dtype=torch.float32, device=inputs.device).view(shape)
            std_t = torch.as_tensor(std, dtype=torch.float32, device=inputs.device).view(shape)
            pixel = 255.0 if inputs.dtype == torch.uint8 else 1.0
            constants[key] = (-mean_t / std_t, 1.0 / (pixel * std_t))
        shift, scale = constants[key]
        # in place only on the fresh float copy of uint8 data: float inputs are never written into
        x = inputs.float().mul_(scale) if inputs.dtype == torch.uint8 else inputs.float() * scale
        return x.add_(shift), targets

    return run


def dataset_transform(data: object, *, stats_of: object = None) -> BatchTransform | None:
    """The conversion a dataset's own images need before any model sees them, or None.

    uint8 images (every image reader's output) become float32, normalised by the mean and std
    the reader recorded in `meta` (those of `stats_of`, e.g. the training split, when given);
    without statistics, pixels are only scaled to [0, 1]. Float features, token ids and anything
    that is not a TensorData are left alone. `fit`, `evaluate` and `predict` use it when they
    are given no transform.
    """
    if not (isinstance(data, TensorData) and isinstance(data.inputs, Tensor) and data.inputs.dtype == torch.uint8):
        return None
    meta = (stats_of if isinstance(stats_of, TensorData) else data).meta
    return float_normalize(meta.get("mean"), meta.get("std"))


# --- augmentation: whole-batch tensor ops, every random draw from the loader's generator -------
#
# A geometric transform must move the targets with the image when the targets are places in it.
# What the targets are is declared with `targets=`, never guessed from their shapes:
#   "class"  class ids or any per-image values: untouched;
#   "mask"   a (B, H, W) or (B, 1, H, W) label map: moved pixel for pixel like the image (no
#            interpolation); pixels that come from padding get `ignore_index` (255 by default, the
#            VOC convention: pass the same value to CrossEntropyLoss(ignore_index=255));
#   "image"  a (B, C, H, W) image (an autoencoder's clean target): moved and padded like the input;
#   "boxes"  a list of B dicts, {"boxes": (K, 4) float x1, y1, x2, y2 in pixels, "labels": (K,), and
#            any other per-box tensors}: flipped, turned, or shifted, clipped to the image and dropped
#            (with their labels) when no area is left. random_elastic refuses them (a warped box is
#            no rectangle).
# The elastic warp mirrors the border, so it never pads: it needs no ignore_index.
TARGET_KINDS = ("class", "mask", "image", "boxes")


def _check_kind(name: str, targets: str, *, no_boxes: str = "") -> None:
    """A declared target kind; `no_boxes` is the one-line reason a transform that cannot move boxes gives."""
    if targets not in TARGET_KINDS:
        raise LayerlabError(f"{name} targets must be one of {', '.join(TARGET_KINDS)}; got {targets!r}")
    if no_boxes and targets == "boxes":
        raise LayerlabError(no_boxes)


def flip_boxes(boxes: Tensor, width: int) -> Tensor:
    """Mirror xyxy pixel boxes (..., 4) left-right in an image `width` pixels wide: x1, x2 -> W - x2, W - x1."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([width - x2, y1, width - x1, y2], dim=-1)


def vflip_boxes(boxes: Tensor, height: int) -> Tensor:
    """Mirror xyxy pixel boxes (..., 4) upside down in an image `height` pixels high: y1, y2 -> H - y2, H - y1."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([x1, height - y2, x2, height - y1], dim=-1)


def crop_boxes(target: dict[str, Tensor], left: int, top: int, size: tuple[int, int]) -> dict[str, Tensor]:
    """The boxes of one image seen through a window of `size` (H, W) whose top-left corner sits at
    (left, top) in the image: shifted by (-left, -top), clipped to the window, and dropped together
    with every other per-box entry (labels, ...) when no area is left."""
    height, width = size
    boxes = target["boxes"] - target["boxes"].new_tensor([left, top, left, top])  # new_tensor: same dtype and device
    limit = boxes.new_tensor([width, height, width, height])
    boxes = torch.minimum(boxes.clamp_min(0), limit)  # (K, 4) inside the window
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])  # (K,) boxes with some area left
    out = {}
    for key, value in target.items():
        if len(value) != len(boxes):
            raise LayerlabError(f"a boxes target holds per-box tensors only; {key!r} has {len(value)} rows for {len(boxes)} boxes")
        out[key] = (boxes if key == "boxes" else value)[keep]
    return out


def _reflect(index: Tensor, size: int) -> Tensor:
    """Mirror out-of-range indices back inside 0..size-1 without repeating the edge (like torch's 'reflect')."""
    index = index.abs()  # -1 -> 1, -2 -> 2
    return torch.where(index >= size, 2 * (size - 1) - index, index)  # size -> size - 2


def _window(corner: Tensor, padding: int, size: tuple[int, int], reflect: bool) -> tuple[Tensor, Tensor]:
    """For each image's window corner (2, B) in padded coordinates: the flat source pixel of every
    output pixel (B, H, W), and whether it lies inside the image (B, H, W) rather than the padding."""
    h, w = size
    rows = corner[0, :, None] - padding + torch.arange(h, device=corner.device)  # (B, H) source rows
    cols = corner[1, :, None] - padding + torch.arange(w, device=corner.device)  # (B, W) source cols
    if reflect:
        rows, cols = _reflect(rows, h), _reflect(cols, w)
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]  # (B, H, W)
    source = rows.clamp(0, h - 1)[:, :, None] * w + cols.clamp(0, w - 1)[:, None, :]  # (B, H, W)
    return source, inside


def _gather_window(x: Tensor, source: Tensor, inside: Tensor, fill: int) -> Tensor:
    """x (B, C, H, W) read through `source`, with `fill` where the window lies in the padding."""
    b, c, h, w = x.shape
    index = source.view(b, 1, h * w).expand(b, c, h * w)  # (B, C, H*W), shared by the C channels
    out = x.reshape(b, c, h * w).gather(2, index).view(b, c, h, w)  # (B, C, H, W)
    out = out.masked_fill(~inside[:, None], fill)  # the padding; a no-op for reflect
    if _is_channels_last(x):
        out = out.contiguous(memory_format=torch.channels_last)  # keep the caller's layout
    return out


def _as_4d(mask: Tensor, inputs: Tensor) -> Tensor:
    if mask.dim() not in (3, 4) or mask.shape[0] != inputs.shape[0] or mask.shape[-2:] != inputs.shape[-2:]:
        raise LayerlabError(f"a mask target must be (B, H, W) or (B, 1, H, W) matching images {tuple(inputs.shape)}, "
                            f"got {tuple(mask.shape)}")
    return mask if mask.dim() == 4 else mask[:, None]


def _check_fill(mask: Tensor, fill: int) -> None:
    if mask.dtype == torch.uint8 and not 0 <= fill <= 255:
        raise LayerlabError(f"ignore_index {fill} does not fit a uint8 mask; use 0..255 or a long mask")


def random_crop(padding: int = 4, mode: str = "constant", *, targets: str = "class", ignore_index: int = 255) -> BatchTransform:
    """Pad every image by `padding` pixels, then cut a random HxW window from each (one offset per image).

    `mode="constant"` pads with zeros (black), `mode="reflect"` mirrors the border. `targets` says
    what the targets are (see TARGET_KINDS above): masks and target images are cut with the same
    window, boxes shifted and clipped to it. No padded copy is ever built: each output pixel reads
    its source pixel through one `gather`, so the cost is one pass over the batch for any dtype,
    device or memory format (about 2 ms for 128 CIFAR images on one CPU thread).
    """
    if padding < 0:
        raise LayerlabError(f"random_crop padding must be >= 0, got {padding}")
    if mode not in ("constant", "reflect"):
        raise LayerlabError(f"random_crop mode must be 'constant' or 'reflect', got {mode!r}")
    _check_kind("random_crop", targets)

    def run(inputs: Tensor, target: Targets, g: torch.Generator) -> Batch:
        b, c, h, w = inputs.shape
        if mode == "reflect" and padding >= min(h, w):
            raise LayerlabError(f"reflect padding {padding} needs images larger than {padding}, got {h}x{w}")
        # top-left corner of each window in padded coordinates, drawn on the generator's device (CPU)
        corner = torch.randint(2 * padding + 1, (2, b), generator=g)  # 0 .. 2 * padding
        source, inside = _window(host_to_device(corner, inputs.device), padding, (h, w), mode == "reflect")
        crop = _gather_window(inputs, source, inside, 0)
        if targets == "mask":
            mask = _as_4d(target, inputs)
            _check_fill(mask, ignore_index)
            moved = _gather_window(mask, source, inside.to(mask.device), ignore_index)
            target = moved if target.dim() == 4 else moved[:, 0]
        elif targets == "image":
            target = _gather_window(target, source, inside, 0)
        elif targets == "boxes":
            offsets = (corner - padding).tolist()  # [[top, ...], [left, ...]]: the window in image coordinates
            target = [crop_boxes(t, offsets[1][i], offsets[0][i], (h, w)) for i, t in enumerate(target)]
        return crop, target

    return run


def random_patch(size: int, *, targets: str = "class") -> BatchTransform:
    """Cut a random `size` x `size` window out of each image (one corner per image), and out of its
    mask or target image the same way: smaller training inputs for a fully convolutional net.

    Unlike random_crop the output is smaller than the input and nothing is padded. Boxes are
    refused (a crop can cut every box away; random_crop with padding keeps the image size for them).
    """
    if size < 1:
        raise LayerlabError(f"random_patch size must be >= 1 pixel, got {size}")
    _check_kind("random_patch", targets, no_boxes="random_patch does not move boxes; use random_crop for detection")

    def run(inputs: Tensor, target: Targets, g: torch.Generator) -> Batch:
        _check_images("random_patch", inputs)
        b, _, h, w = inputs.shape
        if size > min(h, w):
            raise LayerlabError(f"random_patch of {size}x{size} needs images at least that large, got {h}x{w}")
        tops = torch.randint(h - size + 1, (b,), generator=g).tolist()   # 0 .. h - size, on the generator's device (CPU)
        lefts = torch.randint(w - size + 1, (b,), generator=g).tolist()
        out = torch.stack([x[..., t : t + size, l : l + size] for x, t, l in zip(inputs, tops, lefts)])
        if targets in ("mask", "image"):
            target = torch.stack([y[..., t : t + size, l : l + size] for y, t, l in zip(target, tops, lefts)])
        return out, target

    return run


def random_hflip(p: float = 0.5, *, targets: str = "class") -> BatchTransform:
    """Mirror each image left-right with probability `p` (one coin per image), and its mask, target
    image or boxes with it (`targets`, see TARGET_KINDS above)."""
    return _random_flip("random_hflip", p, targets, dim=-1)


def random_vflip(p: float = 0.5, *, targets: str = "class") -> BatchTransform:
    """Mirror each image upside down with probability `p` (one coin per image), and its mask, target
    image or boxes with it (`targets`, see TARGET_KINDS above)."""
    return _random_flip("random_vflip", p, targets, dim=-2)


class AlternatingHFlip:
    """Mirror each image in every other epoch: an image shown as it is in one epoch is shown mirrored in
    the next, and the other way round (airbench's "alternating flip": random coins show half the images
    the same way two epochs running, which teaches the net nothing new).

    Which images start mirrored is decided by the image itself, the parity of its pixel sum, so no
    sample index is needed and a resumed run (the loaders announce each epoch) flips exactly as an
    uninterrupted one. It reads the raw uint8 pixels: put it first, before crops and float_normalize.
    Images whose sum is odd are mirrored in odd epochs (1, 3, ...), the others in even ones.
    """

    def __init__(self) -> None:
        self.epoch = 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __call__(self, inputs: Tensor, targets: Targets, g: torch.Generator) -> Batch:
        if inputs.dtype != torch.uint8 or inputs.dim() != 4:
            raise LayerlabError(f"AlternatingHFlip reads raw uint8 images (B, C, H, W), got {inputs.dtype} "
                                f"{tuple(inputs.shape)}: put it before float_normalize and crops")
        odd = inputs.flatten(1).sum(1, dtype=torch.int64) % 2 == 1
        flip = odd if self.epoch % 2 == 1 else ~odd
        return torch.where(flip[:, None, None, None], inputs.flip(-1), inputs), targets


def _random_flip(name: str, p: float, targets: str, dim: int) -> BatchTransform:
    """The flip along `dim` (-1: columns, left-right; -2: rows, upside down) behind both flips."""
    if not 0.0 <= p <= 1.0:
        raise LayerlabError(f"{name} probability must be in [0, 1], got {p}")
    _check_kind(name, targets)
    mirror_boxes = flip_boxes if dim == -1 else vflip_boxes

    def run(inputs: Tensor, target: Targets, g: torch.Generator) -> Batch:
        coins = torch.rand(len(inputs), generator=g) < p  # (B,) on the generator's device (CPU)
        flip = host_to_device(coins, inputs.device)
        flipped = torch.where(flip[:, None, None, None], inputs.flip(dim), inputs)
        if targets in ("mask", "image"):
            shape = (-1,) + (1,) * (target.dim() - 1)  # one coin per image, broadcast over the rest
            target = torch.where(flip.to(target.device).view(shape), target.flip(dim), target)
        elif targets == "boxes":
            size = inputs.shape[dim]  # the width for a left-right flip, the height for an upside-down one
            target = [{**t, "boxes": mirror_boxes(t["boxes"], size)} if coin else t
                      for t, coin in zip(target, coins.tolist())]
        return flipped, target

    return run


def rot90_boxes(boxes: Tensor, size: int, k: int) -> Tensor:
    """Turn xyxy pixel boxes (..., 4) of a size x size image by `k` quarter turns, the way
    `torch.rot90(image, k, dims=(-2, -1))` turns its pixels: one turn takes the point (x, y) to (y, size - x)."""
    for _ in range(k % 4):
        x1, y1, x2, y2 = boxes.unbind(-1)
        boxes = torch.stack([y1, size - x2, y2, size - x1], dim=-1)
    return boxes


def _check_images(name: str, inputs: Tensor) -> None:
    if not isinstance(inputs, Tensor) or inputs.dim() != 4:
        shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise LayerlabError(f"{name} needs a batch of images (B, C, H, W), got {shape}")


def _turn(x: Tensor, turns: Tensor) -> Tensor:
    """Image i of x (B, ..., H, W) turned by turns[i] quarter turns: one rot90 call per turn count."""
    out = torch.empty_like(x)
    for k in turns.unique().tolist():  # the turn counts drawn
        chosen = host_to_device((turns == k).nonzero().flatten(), x.device)  # the images that turn k times
        out.index_copy_(0, chosen, x.index_select(0, chosen).rot90(k, dims=(-2, -1)))
    return out


def random_rot90(*, targets: str = "class") -> BatchTransform:
    """Turn each image by 0, 90, 180 or 270 degrees counter-clockwise (each equally likely, one draw
    per image), and its mask, target image or boxes with it (`targets`, see TARGET_KINDS above).

    Images must be square: a quarter turn swaps H and W, and a batch holds one size.
    """
    _check_kind("random_rot90", targets)

    def run(inputs: Tensor, target: Targets, g: torch.Generator) -> Batch:
        _check_images("random_rot90", inputs)
        b, _, h, w = inputs.shape
        if h != w:
            raise LayerlabError(f"random_rot90 needs square images (a quarter turn swaps H and W), got {h}x{w}; crop them square first")
        turns = torch.randint(4, (b,), generator=g)  # (B,) quarter turns 0..3, on the generator's device (CPU)
        if targets == "mask":
            _as_4d(target, inputs)  # only the shape check: rot90 turns (B, H, W) and (B, 1, H, W) alike
        if targets in ("mask", "image"):
            target = _turn(target, turns)
        elif targets == "boxes":
            target = [{**t, "boxes": rot90_boxes(t["boxes"], h, k)} for t, k in zip(target, turns.tolist())]
        return _turn(inputs, turns), target

    return run


def _elastic_grid(coarse: Tensor, size: tuple[int, int]) -> Tensor:
    """The sampling grid (n, H, W, 2) of grid_sample for displacements `coarse` (n, 2, G, G), in
    pixels (dx, dy) at a G x G grid of control points: output pixel (i, j) reads the input at
    (j + dx, i + dy), with dx, dy smoothly interpolated between the control points."""
    h, w = size
    # align_corners=True: the outer control points sit on the image's corners and edges (a 3x3 grid
    # holds the corners, the edge midpoints and the centre), so no part of the image is extrapolated
    field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)  # (n, 2, H, W) pixels
    # pixel centres in grid_sample's align_corners=False units: (2i + 1) / size - 1, exact in float32
    # for power-of-two sizes, so a zero field reads every pixel exactly where it is
    rows = (torch.arange(h, device=coarse.device) * 2 + 1) / h - 1  # (H,)
    cols = (torch.arange(w, device=coarse.device) * 2 + 1) / w - 1  # (W,)
    x = cols[None, None, :] + field[:, 0] * (2 / w)  # (n, H, W); one pixel is 2 / W in these units
    y = rows[None, :, None] + field[:, 1] * (2 / h)  # (n, H, W)
    return torch.stack([x, y], dim=-1)  # (n, H, W, 2), x first as grid_sample wants


def _warp(x: Tensor, grid: Tensor, mode: str) -> Tensor:
    """x (n, C, H, W) resampled at `grid`; uint8 is sampled as floats and rounded back to 0..255, a
    label map (integers) read by "nearest" keeps exactly its values."""
    # reflection with align_corners=False mirrors about the image's outer edge (the edge pixel is
    # repeated: c b a | a b c), the border rule of scipy's map_coordinates(mode="reflect")
    values = x if x.is_floating_point() else x.float()  # exact for labels up to 2**24
    out = F.grid_sample(values, grid.to(values.dtype), mode=mode, padding_mode="reflection", align_corners=False)
    if x.dtype == torch.uint8 and mode != "nearest":
        out = out.round_().clamp_(0, 255)  # round, not truncate; bicubic overshoots at edges: keep valid pixels
    return out.to(x.dtype)


def random_elastic(*, grid: int = 3, sigma: float = 10.0, targets: str = "class", p: float = 1.0) -> BatchTransform:
    """The U-Net paper's elastic deformation: with probability `p` per image, a random smooth warp.

    Each image gets its own displacement vectors on a `grid` x `grid` of control points spread
    over it (corners included), each component drawn from N(0, sigma) pixels; bicubic interpolation
    turns them into a smooth per-pixel displacement field, and the image is resampled bicubically
    through it (borders mirrored). A mask (`targets="mask"`) is resampled through the SAME field
    with nearest-neighbour reads, so it keeps its label set and stays aligned; a target image
    moves like the inputs. Boxes are refused: a warped box is no longer a rectangle.
    Float images are not clamped (normalised inputs have no fixed range); uint8 stays 0..255.
    """
    if grid < 2:
        raise LayerlabError(f"random_elastic grid must be >= 2 control points a side, got {grid}")
    if not sigma >= 0:  # also refuses nan
        raise LayerlabError(f"random_elastic sigma must be >= 0 pixels, got {sigma}")
    if not 0.0 <= p <= 1.0:
        raise LayerlabError(f"random_elastic probability must be in [0, 1], got {p}")
    _check_kind("random_elastic", targets,
                no_boxes="random_elastic cannot move boxes (a warped box is no rectangle); use flips, rot90 or crops")

    def run(inputs: Tensor, target: Targets, g: torch.Generator) -> Batch:
        _check_images("random_elastic", inputs)
        b, _, h, w = inputs.shape
        coins = torch.rand(b, generator=g) < p  # (B,) on the generator's device (CPU)
        coarse = torch.randn(b, 2, grid, grid, generator=g) * sigma  # (B, 2, G, G) dx, dy in pixels
        chosen = coins.nonzero().flatten()  # the images that are warped; the others stay bit for bit
        if len(chosen) == 0:
            return inputs, target
        where = _elastic_grid(host_to_device(coarse[chosen], inputs.device), (h, w))  # (n, H, W, 2)
        index = host_to_device(chosen, inputs.device)
        out = inputs.index_copy(0, index, _warp(inputs.index_select(0, index), where, "bicubic"))
        if targets in ("mask", "image"):
            moved = _as_4d(target, inputs) if targets == "mask" else target
            index, mode = index.to(moved.device), "nearest" if targets == "mask" else "bicubic"
            moved = moved.index_copy(0, index, _warp(moved.index_select(0, index), where.to(moved.device), mode))
            target = moved if moved.dim() == target.dim() else moved[:, 0]
        return out, target

    return run


def affine_theta(angle: Tensor, shear: Tensor, x_scale: Tensor, shift: Tensor, size: tuple[int, int]) -> Tensor:
    """The (n, 2, 3) matrices `F.affine_grid` wants for content that is stretched in width by
    `x_scale` (n,), slanted by `shear` (n,) degrees (x += tan(shear)·y), turned by `angle` (n,)
    degrees about the centre (y points down, so positive turns clockwise on screen), then moved by
    `shift` (n, 2) pixels (dx, dy).

    The content map is A = turn · slant · stretch in pixels from the centre: out = A·in + t.
    affine_grid asks the other way round, where each output pixel reads the input, in units where
    the image spans -1..1 (D = diag(2/W, 2/H) pixels to units): in = D A⁻¹ D⁻¹ · out - D A⁻¹ t.
    """
    h, w = size
    rad, slant = torch.deg2rad(angle), torch.tan(torch.deg2rad(shear))
    ones, zeros = torch.ones_like(rad), torch.zeros_like(rad)
    turn = torch.stack([rad.cos(), -rad.sin(), rad.sin(), rad.cos()], dim=-1).view(-1, 2, 2)
    slanted = torch.stack([ones, slant, zeros, ones], dim=-1).view(-1, 2, 2)
    stretched = torch.stack([x_scale, zeros, zeros, ones], dim=-1).view(-1, 2, 2)
    inverse = torch.linalg.inv(turn @ slanted @ stretched)  # (n, 2, 2): output pixel -> input pixel
    d = torch.tensor([2 / w, 2 / h], dtype=inverse.dtype)
    linear = d[:, None] * inverse / d[None, :]  # row i times d_i, column j divided by d_j: D A⁻¹ D⁻¹
    offset = -d * (inverse @ shift[:, :, None].to(inverse.dtype))[..., 0]  # (n, 2): -D A⁻¹ t
    return torch.cat([linear, offset[:, :, None]], dim=2)  # (n, 2, 3)


def random_affine(*, degrees: float = 0.0, shift: tuple[float, float] = (0.0, 0.0), x_scale: tuple[float, float] = (1.0, 1.0),
                  shear: float = 0.0, targets: str = "class") -> BatchTransform:
    """Each image's content turned by up to ±`degrees`, stretched in width by a factor in `x_scale`,
    slanted by up to ±`shear` degrees and moved by up to ±`shift` (dx, dy) pixels: five uniform
    draws per image (see affine_theta for the arithmetic).

    Made for lines of text (crnn-captcha): the characters move, tilt, slant and widen, and the label
    stays what it was. Resampled bilinearly with mirrored borders (uint8 rounded back to 0..255); a
    mask (`targets="mask"`) moves through the same map with nearest-neighbour reads, a target image
    like the inputs. Boxes are refused: a turned box is no longer an upright rectangle.
    """
    if not (degrees >= 0 and shear >= 0 and len(shift) == 2 and all(v >= 0 for v in shift)):  # refuses nan too
        raise LayerlabError(f"random_affine degrees, shear and shift (dx, dy) must be >= 0, got {degrees}, {shear}, {shift}")
    if len(x_scale) != 2 or not 0 < x_scale[0] <= x_scale[1]:
        raise LayerlabError(f"random_affine x_scale must be (low, high) with 0 < low <= high, got {x_scale}")
    _check_kind("random_affine", targets, no_boxes="random_affine cannot move boxes (a turned box is no upright rectangle)")

    def run(inputs: Tensor, target: Targets, g: torch.Generator) -> Batch:
        _check_images("random_affine", inputs)
        b, _, h, w = inputs.shape
        draws = torch.rand(b, 5, generator=g) * 2 - 1  # (B, 5) in [-1, 1): angle, shear, stretch, dx, dy (CPU)
        stretch = x_scale[0] + (x_scale[1] - x_scale[0]) * (draws[:, 2] + 1) / 2
        theta = affine_theta(draws[:, 0] * degrees, draws[:, 1] * shear, stretch, draws[:, 3:] * torch.tensor(shift), (h, w))
        grid = F.affine_grid(host_to_device(theta, inputs.device), [b, 1, h, w], align_corners=False)  # (B, H, W, 2)
        out = _warp(inputs, grid, "bilinear")
        if targets in ("mask", "image"):
            moved = _as_4d(target, inputs) if targets == "mask" else target
            moved = _warp(moved, grid.to(moved.device), "nearest" if targets == "mask" else "bilinear")
            target = moved if moved.dim() == target.dim() else moved[:, 0]
        if _is_channels_last(inputs):
            out = out.contiguous(memory_format=torch.channels_last)  # keep the caller's layout
        return out, target

    return run


def random_join(p: float = 0.5) -> BatchTransform:
    """Lines of text joined in pairs: with probability `p` the whole batch becomes lines twice as long,
    each line followed on its right by another line of the batch (a random cycle through the batch,
    so never by itself when there are two or more), its text by that line's text. Made for CTC
    recognisers (crnn-captcha); the targets are the text-line readers' dict {"labels" (B, S) padded
    with 0, "label_lengths" (B,), "widths" (B,)} (layerlab.data.textlines).

    Why: a net that reads a whole captcha at once can learn each training image by heart (its noise,
    its layout) instead of its characters; captchas joined at random give pairs it has never seen,
    and only reading the characters one by one fits them (crnn-captcha's docstring has the figures).
    The whole batch or none: captchas of one width then never need padding. Each line is cut at its
    own width before the join, and the joined lines are padded on the right by repeating their last
    column, as the reader pads them.
    """
    if not 0.0 <= p <= 1.0:
        raise LayerlabError(f"random_join p must be a probability in [0, 1], got {p}")

    def run(inputs: Tensor, targets: Targets, g: torch.Generator) -> Batch:
        _check_images("random_join", inputs)
        if not (isinstance(targets, dict) and {"labels", "label_lengths", "widths"} <= targets.keys()):
            got = sorted(targets) if isinstance(targets, dict) else type(targets).__name__
            raise LayerlabError(f"random_join needs text-line targets {{labels, label_lengths, widths}}, got {got}")
        if float(torch.rand(1, generator=g)) >= p:
            return inputs, targets
        order = torch.randperm(len(inputs), generator=g)
        partner = order.roll(-1)[order.argsort()].tolist()   # line i is followed by partner[i]: a shuffled cycle
        widths, lengths, labels = (targets[k].cpu() for k in ("widths", "label_lengths", "labels"))
        joined_widths, joined_lengths = widths + widths[partner], lengths + lengths[partner]
        out = inputs.new_empty(*inputs.shape[:3], int(joined_widths.max()))
        texts = labels.new_zeros(len(labels), int(joined_lengths.max()))
        for i, j in enumerate(partner):
            wi, wj, li, lj = int(widths[i]), int(widths[j]), int(lengths[i]), int(lengths[j])
            out[i, ..., :wi], out[i, ..., wi : wi + wj] = inputs[i, ..., :wi], inputs[j, ..., :wj]
            out[i, ..., wi + wj :] = out[i, ..., wi + wj - 1 : wi + wj]   # the last column repeated
            texts[i, :li], texts[i, li : li + lj] = labels[i, :li], labels[j, :lj]
        if _is_channels_last(inputs):
            out = out.contiguous(memory_format=torch.channels_last)
        device = targets["labels"].device
        return out, {**targets, "labels": texts.to(device), "label_lengths": joined_lengths.to(device),
                     "widths": joined_widths.to(device)}

    return run


def _is_channels_last(x: Tensor) -> bool:
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def channel_stats(data: TensorData | Tensor, chunk: int = 2048) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of images (N, C, ...), in [0, 1] units for uint8 pixels.

    These are the numbers `normalize` wants. The work runs `chunk` images at a time, so 50,000
    CIFAR images never need a 600 MB float copy.
    """
    inputs = data.inputs if isinstance(data, TensorData) else data
    if inputs.dim() < 2 or len(inputs) == 0:
        raise LayerlabError(f"channel_stats needs a non-empty (N, C, ...) batch, got shape {tuple(inputs.shape)}")
    if inputs.dtype == torch.uint8:
        # exact and ten times faster than float sums: count how often each value 0..255 occurs per channel
        counts = torch.zeros(inputs.shape[1], 256, dtype=torch.float64)  # (C, 256)
        for start in range(0, len(inputs), chunk):
            part = inputs[start : start + chunk]
            for ch in range(inputs.shape[1]):
                counts[ch] += torch.bincount(part[:, ch].reshape(-1), minlength=256).cpu()
        values = torch.arange(256, dtype=torch.float64) / 255.0  # pixel value in [0, 1]
        total, squares = counts @ values, counts @ (values * values)
    else:
        dims = [0] + list(range(2, inputs.dim()))  # every dim but the channel
        total = torch.zeros(inputs.shape[1], dtype=torch.float64)
        squares = torch.zeros(inputs.shape[1], dtype=torch.float64)
        for start in range(0, len(inputs), chunk):
            x = inputs[start : start + chunk].to(torch.float64)
            total += x.sum(dim=dims).cpu()
            squares += (x * x).sum(dim=dims).cpu()
    count = inputs[:, 0].numel()  # values per channel: N * H * W
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(0).sqrt()  # E[x^2] - E[x]^2, in float64
    return tuple(mean.tolist()), tuple(std.tolist())


def _to_channels_last(inputs: Tensor, targets: Tensor, g: torch.Generator) -> Batch:
    # NHWC storage lets cuDNN / oneDNN pick their fastest convolution kernels
    return inputs.contiguous(memory_format=torch.channels_last), targets


def augment_pipeline(
    mean: Sequence[float],
    std: Sequence[float],
    *,
    crop_padding: int = 4,
    flip: bool = True,
    channels_last: bool = False,
    targets: str = "class",
    crop_mode: str = "constant",
    alternate_flip: bool = False,
) -> BatchTransform:
    """The standard CIFAR training transform: random crop + flip on uint8, then floats, then (x - mean) / std.

    Cropping and flipping before the float conversion moves a quarter of the bytes. `targets`
    says what moves with the images (see TARGET_KINDS); normalisation touches the inputs only.
    `crop_mode` pads with black ("constant") or mirrors the border ("reflect"). `alternate_flip`
    mirrors each image every other epoch (AlternatingHFlip, first, on the raw pixels) instead of by coin.
    """
    steps: list[BatchTransform] = []
    if flip and alternate_flip:
        if targets != "class":
            raise LayerlabError(f"alternate_flip mirrors class-labelled images only, not {targets} targets")
        steps.append(AlternatingHFlip())
    if crop_padding > 0:
        steps.append(random_crop(crop_padding, crop_mode, targets=targets))
    if flip and not alternate_flip:
        steps.append(random_hflip(targets=targets))
    steps.append(float_normalize(mean, std))
    if channels_last:
        steps.append(_to_channels_last)
    return compose(*steps)


def eval_pipeline(mean: Sequence[float], std: Sequence[float], channels_last: bool = False) -> BatchTransform:
    """The matching evaluation transform: no randomness, only floats and (x - mean) / std."""
    steps = [float_normalize(mean, std)]
    if channels_last:
        steps.append(_to_channels_last)
    return compose(*steps)
