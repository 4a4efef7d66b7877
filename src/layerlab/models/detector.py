"""R-CNN, SPPNet and Fast R-CNN: one small CNN, three ways to get a fixed-length vector per region.

Course unit: object detection (R-CNN → SPPNet → Fast R-CNN). Girshick et al. (2014), He et al.
(2014, "Spatial Pyramid Pooling in Deep Convolutional Networks"), Girshick (2015).

A detector here scores regions that a proposal method suggested (layerlab.data.proposals). All
three variants share the same convolutional `features` and the same fully connected heads; they
differ only in where a region is cut out:

- R-CNN (`method="rcnn"`): cut each region out of the *image*, warp it to crop x crop pixels, and
  run the whole CNN on every one of them: 300 regions = 300 CNN passes per image (slow).
- SPPNet (`method="sppnet"`): run the convolutions *once* over the whole image, then cut each
  region's window out of the feature map and max-pool it into a fixed pyramid of bins: 4x4, 2x2
  and 1x1. Any window, of any size or shape, gives 16 + 4 + 1 = 21 bins x C channels: a vector of
  the same length for every region, which is what a fully connected layer needs.
- Fast R-CNN (`method="fast-rcnn"`): the same single pass, with one pyramid level (RoI pooling,
  4x4 here, 7x7 in the paper), and the class and box heads trained together with one loss.
  (That joint loss is the training recipe, in layerlab.tasks.detection; the net is SPPNet's.)

Shapes for a 128x128 digit canvas (width 16, stride 4):

    features   (B, 1, 128, 128) -> (B, 32, 32, 32)   conv 3x3 + ReLU + pool /2, twice, then conv 3x3 + ReLU
    R-CNN      a region -> (1, 32, 32) pixels -> (32, 8, 8) features -> pyramid over all of it
    SPPNet     a region's window of the (32, 32, 32) map, e.g. (32, 9, 6) -> pyramid
    pyramid    (32, h, w) -> 32·(4·4 + 2·2 + 1·1) = 672 numbers, for any h, w >= 1
    head       672 -> 256 -> 256 (fc6, fc7), then scores for background + 10 classes, and 4 box offsets

Parameters (`layerlab summary sppnet`): convs 160 + 4,640 + 9,248 = 14,048; fc6 672·256 + 256 =
172,288; fc7 65,792; scores 256·11 + 11 = 2,827; box 256·4 + 4 = 1,028: 255,983 in all. The
pyramid has no weights: R-CNN and SPPNet have exactly the same parameters; RoI pooling's single
4x4 level makes fc6 512·256 + 256 = 131,328 (215,023 in all). Width 16 rather than the 32 tried
first: a quarter of the convolution work, for a CPU shared by several people.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerlab.errors import LayerlabError
from layerlab.models.registry import register_model

METHODS = ("rcnn", "sppnet", "fast-rcnn")
WARPS = ("stretch", "square")


@dataclass(frozen=True)
class DetectorConfig:
    method: str = "sppnet"          # where a region is cut out: rcnn (pixels), sppnet / fast-rcnn (features)
    in_channels: int = 1
    num_classes: int = 10           # object classes; the scores add one for "background" (index 0)
    width: int = 16                 # channels of the first conv; the next two have twice as many
    hidden: int = 256               # fc6 and fc7
    levels: tuple[int, ...] = (4, 2, 1)   # the pyramid; fast-rcnn uses its first level only
    crop: int = 32                  # R-CNN: the side every region is warped to, in pixels
    context: int = 0                # R-CNN: pixels of the crop around the box that show its surroundings (the paper: 16 of 227)
    warp: str = "stretch"           # R-CNN: "stretch" each box to the square crop, or cut the tightest "square" around it first


def pyramid_pool(window: Tensor, levels: tuple[int, ...]) -> Tensor:
    """(C, h, w) -> (C·Σ n²): max over an n x n grid of bins for each level n.

    Bin i of n along a side of length L spans [floor(i·L/n), ceil((i+1)·L/n)): the bins cover the
    window exactly and overlap by at most one cell; this is adaptive max pooling's arithmetic.
    """
    return torch.cat([F.adaptive_max_pool2d(window, n).flatten() for n in levels])


def feature_windows(rois: Tensor, stride: int, height: int, width: int) -> Tensor:
    """(R, 4) integer windows on a feature map of stride `stride`: a box's pixels x1..x2 cover
    cells floor(x1 / S) .. ceil(x2 / S) - 1, and always at least one cell."""
    cells = torch.stack([torch.floor(rois[:, 0] / stride), torch.floor(rois[:, 1] / stride),
                         torch.ceil(rois[:, 2] / stride), torch.ceil(rois[:, 3] / stride)], 1).long()
    limit = cells.new_tensor([width - 1, height - 1, width, height])
    cells = torch.minimum(cells.clamp_min(0), limit)
    cells[:, 2] = torch.maximum(cells[:, 2], cells[:, 0] + 1)
    cells[:, 3] = torch.maximum(cells[:, 3], cells[:, 1] + 1)
    return cells


def crop_boxes(boxes: Tensor, size: int, *, context: int = 0, warp: str = "stretch") -> Tensor:
    """(R, 4) the part of the image each box's size x size crop shows. "square": first the tightest square
    around the box, centred on it (a "1" stays narrow, as in the MNIST digits the CNN pre-trained on);
    then `context` crop pixels on every side: the box is grown by size / (size - 2·context), so that
    after the warp it fills the middle size - 2·context pixels (R-CNN's "context padding")."""
    if warp not in WARPS:
        raise LayerlabError(f"warp must be one of {', '.join(WARPS)}, got {warp!r}")
    if not 0 <= 2 * context < size:
        raise LayerlabError(f"context must be 0 to {(size - 1) // 2} pixels of a {size}-pixel crop, got {context}")
    centre, half = (boxes[:, :2] + boxes[:, 2:]) / 2, (boxes[:, 2:] - boxes[:, :2]) / 2        # (R, 2) each
    if warp == "square":
        half = half.amax(dim=1, keepdim=True).expand(-1, 2)
    half = half * size / (size - 2 * context)
    return torch.cat([centre - half, centre + half], 1)


def warp_regions(image: Tensor, boxes: Tensor, size: int) -> Tensor:
    """R-CNN's warp: each box (R, 4) of one image (C, H, W) resampled bilinearly to (R, C, size, size),
    whatever its aspect ratio (the paper's "warp"); outside the image it reads 0, the mean of the
    normalised image (as the paper fills with the mean before subtracting it)."""
    _, h, w = image.shape
    steps = (torch.arange(size, dtype=image.dtype, device=image.device) + 0.5) / size          # (size,) in (0, 1)
    xs = boxes[:, 0:1] + (boxes[:, 2:3] - boxes[:, 0:1]) * steps                                # (R, size) pixels
    ys = boxes[:, 1:2] + (boxes[:, 3:4] - boxes[:, 1:2]) * steps
    gx, gy = 2 * xs / w - 1, 2 * ys / h - 1                                                     # to grid_sample's [-1, 1]
    grid = torch.stack([gx[:, None, :].expand(-1, size, -1), gy[:, :, None].expand(-1, -1, size)], -1)   # (R, size, size, 2)
    out = F.grid_sample(image[None], grid.reshape(1, -1, size, 2), align_corners=False)       # (1, C, R·size, size)
    return out[0].reshape(image.shape[0], len(boxes), size, size).transpose(0, 1)              # (R, C, size, size)


class RegionDetector(nn.Module):
    """features (shared convs) -> one fixed-length vector per region -> fc6, fc7 -> class scores, box offsets."""

    stride = 4                      # two 2x2 poolings

    def __init__(self, cfg: DetectorConfig = DetectorConfig()) -> None:
        super().__init__()
        if cfg.method not in METHODS:
            raise LayerlabError(f"method must be one of {', '.join(METHODS)}, got {cfg.method!r}")
        self.cfg = cfg
        w = cfg.width
        self.features = nn.Sequential(
            nn.Conv2d(cfg.in_channels, w, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),   # /2
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),             # /4
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(inplace=True),
        )
        self.levels = cfg.levels[:1] if cfg.method == "fast-rcnn" else cfg.levels
        pooled = 2 * w * sum(n * n for n in self.levels)                 # 64 · 21 = 1,344 for SPP
        self.head = nn.Sequential(nn.Linear(pooled, cfg.hidden), nn.ReLU(inplace=True),        # fc6
                                  nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(inplace=True))    # fc7
        self.scores = nn.Linear(cfg.hidden, cfg.num_classes + 1)        # 0 = background
        self.box = nn.Linear(cfg.hidden, 4)                              # offsets dx, dy, dw, dh (layerlab.boxes)

    def region_vectors(self, images: Tensor, rois: Tensor) -> Tensor:
        """(R, pooled) one vector per region; rois (R, 5) = image index, x1, y1, x2, y2 in pixels."""
        if self.cfg.method == "rcnn":                                      # R regions = R passes of the CNN
            seen = crop_boxes(rois[:, 1:], self.cfg.crop, context=self.cfg.context, warp=self.cfg.warp)
            crops = torch.cat([warp_regions(images[b], seen[rois[:, 0] == b], self.cfg.crop)
                               for b in range(images.shape[0])])               # (R, C, 32, 32)
            maps = self.features(crops)                                        # (R, 64, 8, 8)
            return torch.cat([F.adaptive_max_pool2d(maps, n).flatten(1) for n in self.levels], 1)   # the whole 8x8 map
        fmaps = self.features(images)                                          # one pass per image: (B, 64, H/4, W/4)
        vectors = []
        for b, fmap in enumerate(fmaps.unbind(0)):                            # (64, H/4, W/4) each
            # (unbind first: a window cut from `fmap`, not from `fmaps`, sends its gradient back through a
            # zero-filled map of one image, not of the whole batch; 16x less filling at batch 16)
            cells = feature_windows(rois[rois[:, 0] == b, 1:], self.stride, *fmap.shape[1:]).tolist()
            vectors += [pyramid_pool(fmap[:, y1:y2, x1:x2], self.levels) for x1, y1, x2, y2 in cells]
        return torch.stack(vectors)

    def forward(self, images: Tensor, rois: Tensor) -> tuple[Tensor, Tensor]:
        """(class scores (R, num_classes + 1), box offsets (R, 4)); rois sorted by image index."""
        hidden = self.head(self.region_vectors(images, rois))           # (R, 256) fc7
        return self.scores(hidden), self.box(hidden)


def whole_image_rois(images: Tensor) -> Tensor:
    """(B, 5) one region per image covering all of it: the detector as an image classifier."""
    b, _, h, w = images.shape
    index = torch.arange(b, dtype=images.dtype, device=images.device)[:, None]
    return torch.cat([index, images.new_tensor([0.0, 0.0, w, h]).expand(b, 4)], 1)


class WholeImageClassifier(nn.Module):
    """The detector read as an image classifier: one region covering each image, the background score
    dropped. R-CNN's "supervised pre-training": teach the CNN the classes on whole images (MNIST
    digits here) before it is fine-tuned on regions."""

    def __init__(self, detector: RegionDetector) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, images: Tensor) -> Tensor:                         # (B, C, H, W) -> (B, num_classes)
        return self.detector(images, whole_image_rois(images))[0][:, 1:]


def _build(method: str, overrides: dict[str, Any]) -> RegionDetector:
    return RegionDetector(DetectorConfig(**{"method": method, **overrides}))


@register_model("rcnn", input_shape=(1, 128, 128), num_params=255_983, task="detection",
                description="R-CNN: each proposal warped to 32x32 and run through the CNN")
def rcnn(**overrides: Any) -> RegionDetector:
    return _build("rcnn", overrides)


@register_model("sppnet", input_shape=(1, 128, 128), num_params=255_983, task="detection",
                description="SPPNet: one conv pass per image, a 4x4/2x2/1x1 pyramid per region (21 x 32 numbers)")
def sppnet(**overrides: Any) -> RegionDetector:
    return _build("sppnet", overrides)


@register_model("fast-rcnn", input_shape=(1, 128, 128), num_params=215_023, task="detection",
                description="Fast R-CNN: one conv pass, 4x4 RoI pooling, class and box heads trained jointly")
def fast_rcnn(**overrides: Any) -> RegionDetector:
    return _build("fast-rcnn", overrides)
