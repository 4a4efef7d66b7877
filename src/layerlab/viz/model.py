"""Look inside a trained convolutional network: its first layer's filters, its feature maps, its guess.

    paths = model_figures(model, image, run.path / "figures", display=pixels, classes=test.classes)

writes three PNGs for ONE input image:

    filters.png          the first conv layer's learned kernels (what the network looks for first)
    feature_maps.png     the first channels of every stage's output (or of one `layer`)
    top_predictions.png  the 5 most probable classes with their softmax probabilities

The numbers come first (`look_inside` returns them as a `ModelView`, which tests check); the
drawing only shows them. A "stage" is found from the model's structure, so every convolutional
model of the zoo works without a per-model table:

- inside `features` (VGG, AlexNet, LeNet, the CIFAR net) or at the top level (ResNet), a child
  that is a whole block holding convs (cifar-cnn's `block1`, ResNet's `layer1`) is one stage;
- a run of single layers (conv, ReLU, pool, ...) is one stage ending at its pooling layer, as
  VGG's "conv-conv-pool" stages are; ResNet's stem conv1-bn1-relu ends at `relu`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from layerlab.errors import LayerlabError
from layerlab.inspect import capture
from layerlab.viz.style import DPI, figure_style, label_image, new_figure, save_figure, tr

if TYPE_CHECKING:
    from matplotlib.axes import Axes

STAGE_CHANNELS = 8   # channels shown per stage when every stage is drawn
LAYER_CHANNELS = 32  # channels shown when one layer is asked for (4 rows of 8)
MAX_FILTERS = 64     # AlexNet, VGG and ResNet all start with 64 filters
TOP_K = 5
_POOLS = (nn.MaxPool2d, nn.AvgPool2d)
_NOT_A_MAP = (nn.Identity, nn.Dropout, nn.Linear, nn.Flatten, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


@dataclass
class ModelView:
    """What one input does inside a model.

    `filters` is the first conv layer's weight (out_channels, in_channels, kh, kw); `maps` holds
    each stage's feature maps (C, H, W) for the input, in forward order; `probs` the softmax
    over the classes named by `classes`.
    """

    first_conv: str
    filters: Tensor
    maps: dict[str, Tensor]
    probs: Tensor
    classes: tuple[str, ...]

    def top(self, k: int = TOP_K) -> list[tuple[str, float]]:
        """The k most probable classes, most probable first."""
        values, indices = self.probs.topk(min(k, len(self.probs)))
        return [(self.classes[int(i)], float(v)) for v, i in zip(values, indices)]


# --- finding the parts --------------------------------------------------------------------------


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a torch.compile or (Distributed)DataParallel wrapper."""
    model = getattr(model, "_orig_mod", model)
    if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        model = model.module
    return model


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The first Conv2d in definition order (its filters are the ones that see the pixels)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise LayerlabError(
        f"viz needs a convolutional model; {type(model).__name__} has no Conv2d layer "
        "(its first layer's weights are not images)"
    )


def find_stages(model: nn.Module) -> list[str]:
    """Names of the modules whose outputs are the model's stages (see the module docstring)."""
    features = getattr(model, "features", None)
    root, prefix = (features, "features.") if isinstance(features, nn.Module) else (model, "")
    stages: list[str] = []
    run_end: str | None = None  # the last map-producing layer of a run that holds a conv
    for name, child in root.named_children():
        full = prefix + name
        has_conv = any(isinstance(m, nn.Conv2d) for m in child.modules())
        if next(child.children(), None) is not None:  # a block
            if run_end:
                stages.append(run_end)
                run_end = None
            if has_conv:
                stages.append(full)
            continue
        if isinstance(child, nn.Conv2d) or (run_end and not isinstance(child, _NOT_A_MAP)):
            run_end = full
        if run_end and isinstance(child, _POOLS):
            stages.append(run_end)
            run_end = None
    if run_end:
        stages.append(run_end)
    # a model of some other shape: every conv layer is a stage
    return stages or [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


# --- the numbers --------------------------------------------------------------------------------


def look_inside(model: nn.Module, image: Tensor, *, classes: Sequence[str] | None = None,
                layer: str | None = None) -> ModelView:
    """Run one input through the model (eval mode, no gradients) and record what it shows.

    The model's own train/eval flags are put back afterwards, module by module.
    """
    model = unwrap(model)
    conv_name, conv = first_conv(model)
    if image.dim() != 3:
        raise LayerlabError(f"viz needs one input image shaped (C, H, W); got shape {tuple(image.shape)}")
    names = [layer] if layer is not None else find_stages(model)
    weight = conv.weight
    inputs = image.unsqueeze(0).to(weight.device, weight.dtype)  # (1, C, H, W)
    if weight.dim() == 4 and weight.is_contiguous(memory_format=torch.channels_last):
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad(), capture(model, *names) as records:
            logits = model(inputs)
    finally:
        for module, mode in modes.items():
            module.training = mode
    maps = {n: _as_maps(n, records.get(n)) for n in names}
    logits = logits[0] if isinstance(logits, (tuple, list)) else logits
    if logits.dim() != 2 or len(logits) != 1:
        raise LayerlabError(f"viz needs a classifier with outputs (1, classes); got {tuple(logits.shape)}")
    probs = torch.softmax(logits.float(), dim=1)[0].cpu()
    names_of = tuple(classes) if classes else tuple(str(i) for i in range(len(probs)))
    if len(names_of) != len(probs):
        raise LayerlabError(f"{len(names_of)} class names for a model with {len(probs)} outputs")
    return ModelView(conv_name, weight.detach().float().cpu(), maps, probs, names_of)


def _as_maps(name: str, output: Tensor | None) -> Tensor:
    if output is None:
        raise LayerlabError(f"layer {name!r} did not run in the forward pass, so it has no feature maps")
    if output.dim() != 4:
        raise LayerlabError(f"layer {name!r} outputs shape {tuple(output.shape)}, not feature maps "
                            "(B, C, H, W); pick a conv, activation or pooling layer")
    return output[0].float().cpu()  # (C, H, W)


# --- the pictures -------------------------------------------------------------------------------


def model_figures(model: nn.Module, image: Tensor, out_dir: Path, *, display: Tensor | None = None,
                  classes: Sequence[str] | None = None, lang: str = "en", layer: str | None = None) -> list[Path]:
    """Write filters.png (first conv layer's learned kernels), feature_maps.png (feature maps of one
    input at every stage, or of `layer` only) and top_predictions.png (top-5 classes with softmax
    probabilities) into out_dir; return the paths. `image` is ONE model input (C,H,W), already
    transformed/normalised as the model expects; `display` is the same image for showing (uint8 or
    float in [0,1], (C,H,W)); classes names the logits."""
    view = look_inside(model, image, classes=classes, layer=layer)
    return draw_model_figures(view, image if display is None else display, Path(out_dir), lang=lang,
                              title=type(unwrap(model)).__name__)


def draw_model_figures(view: ModelView, display: Tensor, out_dir: Path, *, lang: str = "en",
                       title: str = "model") -> list[Path]:
    """The three PNGs of `model_figures`, from numbers already computed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    picture = _displayable(display)
    with figure_style(lang):
        return [
            _draw_filters(view, out_dir / "filters.png", lang, title),
            _draw_feature_maps(view, picture, out_dir / "feature_maps.png", lang, title),
            _draw_top(view, picture, out_dir / "top_predictions.png", lang, title),
        ]


def _displayable(display: Tensor) -> Tensor:
    """(H, W, 3) or (H, W) floats in [0, 1]: uint8 divided by 255, anything else min-max scaled."""
    x = display.detach().cpu()
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if x.dim() == 3:
        x = x.permute(1, 2, 0) if x.shape[0] == 3 else x[0]  # (H, W, 3) or the first channel
    if x.min() < 0 or x.max() > 1:  # a normalised input: stretch it back to [0, 1]
        x = (x - x.min()) / (x.max() - x.min()).clamp_min(1e-12)
    return x


def _show(ax: Axes, picture: Tensor, **kwargs: Any) -> None:
    if picture.dim() == 2:
        ax.imshow(picture.numpy(), cmap=kwargs.pop("cmap", "gray"), **kwargs)
    else:
        ax.imshow(picture.numpy())


def _bare(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_filters(view: ModelView, path: Path, lang: str, title: str) -> Path:
    out_ch, in_ch, kh, kw = view.filters.shape
    shown = view.filters[:MAX_FILTERS]
    cols = min(8, len(shown))
    rows = -(-len(shown) // cols)
    fig, axes = new_figure(rows, cols, size=(max(6.0, 1.1 * cols + 2), 1.1 * rows + 2.2))
    limit = float(shown.abs().max()) or 1.0
    for i, ax in enumerate(axes.flat):
        _bare(ax)
        if i >= len(shown):
            ax.axis("off")
            continue
        if in_ch == 3:  # colour kernels: each one stretched to [0, 1] on its own, as in the AlexNet paper
            k = shown[i]
            image = ((k - k.min()) / (k.max() - k.min()).clamp_min(1e-12)).permute(1, 2, 0)
            last = ax.imshow(image.numpy())
        else:  # one signed kernel (the first input channel): red positive, blue negative
            last = ax.imshow(shown[i, 0].numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"#{i}", fontsize=7)
    axes[-1, 0].set_xlabel(tr(lang, "kernel column", "커널 열"))
    axes[-1, 0].set_ylabel(tr(lang, "kernel row", "커널 행"))
    if in_ch != 3:
        fig.colorbar(last, ax=axes, shrink=0.8, label=tr(lang, "weight", "가중치"))
    count = f"{len(shown)} / {out_ch}" if len(shown) < out_ch else str(out_ch)
    heading = tr(lang, f"{title}: {count} learned {in_ch}x{kh}x{kw} filters of '{view.first_conv}'",
                 f"{title}: '{view.first_conv}'이 학습한 {in_ch}x{kh}x{kw} 필터 {count}개")
    caption = tr(lang,
                 "Each square is one kernel of the first conv layer; after training, stripes and blobs "
                 "show the edges, colours and spots it responds to (random noise means untrained).",
                 "각 칸은 첫 합성곱 층의 커널 하나입니다. 학습 후의 줄무늬와 얼룩은 그 필터가 반응하는 "
                 "모서리, 색, 점이며, 무작위 잡음이면 아직 학습되지 않은 것입니다.")
    return save_figure(fig, path, heading, caption, lang)


def _feature_rows(view: ModelView) -> list[tuple[str, Tensor, range]]:
    """(layer, its maps, the channels to show) for each row of the feature-map grid."""
    if len(view.maps) > 1:
        return [(n, m, range(min(STAGE_CHANNELS, len(m)))) for n, m in view.maps.items()]
    name, maps = next(iter(view.maps.items()))
    count = min(LAYER_CHANNELS, len(maps))
    return [(name, maps, range(i, min(i + STAGE_CHANNELS, count))) for i in range(0, count, STAGE_CHANNELS)]


def _draw_feature_maps(view: ModelView, picture: Tensor, path: Path, lang: str, title: str) -> Path:
    from matplotlib.figure import Figure

    rows = _feature_rows(view)
    cols = max(len(r[2]) for r in rows)
    fig = Figure(figsize=(2.6 + 1.25 * cols, max(3.6, 1.35 * len(rows) + 1.6)), dpi=DPI, layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[2.2, 1.25 * cols])
    ax_in = left.subplots()
    _show(ax_in, picture)
    label_image(ax_in, tr(lang, "input", "입력"), lang)
    axes = right.subplots(len(rows), cols, squeeze=False)
    for r, (name, maps, channels) in enumerate(rows):
        for c, ax in enumerate(axes[r]):
            _bare(ax)
            if c >= len(channels):
                ax.axis("off")
                continue
            ax.imshow(maps[channels[c]].numpy(), cmap="viridis")
            ax.set_title(tr(lang, f"ch {channels[c]}", f"채널 {channels[c]}"), fontsize=7)
        c_, h, w = maps.shape
        axes[r, 0].set_ylabel(f"{name}\n{c_}@{h}x{w}", fontsize=8)
    what = tr(lang, "every stage", "단계별") if len(view.maps) > 1 else f"'{rows[0][0]}'"
    heading = tr(lang, f"{title}: feature maps of {what} (channels@height x width)",
                 f"{title}: {what} 특성 맵 (채널@높이 x 너비)")
    caption = tr(lang,
                 "Bright cells are where a channel responds; early stages keep the input's shape, later "
                 "ones are smaller, with more channels, and respond to more abstract patterns.",
                 "밝은 곳은 그 채널이 강하게 반응한 위치입니다. 앞 단계는 입력의 모양을 유지하고, 뒤 단계로 "
                 "갈수록 맵은 작아지고 채널은 많아지며 더 추상적인 패턴에 반응합니다.")
    return save_figure(fig, path, heading, caption, lang)


def _draw_top(view: ModelView, picture: Tensor, path: Path, lang: str, title: str) -> Path:
    top = view.top()
    fig, axes = new_figure(1, 2, size=(10.0, 4.6))
    _show(axes[0, 0], picture)
    label_image(axes[0, 0], tr(lang, "input", "입력"), lang)
    ax = axes[0, 1]
    names = [name for name, _ in top][::-1]  # barh draws bottom-up: the most probable on top
    probs = [p for _, p in top][::-1]
    bars = ax.barh(range(len(top)), probs, color=["0.6"] * (len(top) - 1) + ["tab:blue"])
    ax.set_yticks(range(len(top)), names)
    ax.bar_label(bars, labels=[f"{p:.3f}" for p in probs], padding=3)
    ax.set_xlim(0, 1.15)
    ax.set_xlabel(tr(lang, "probability (softmax)", "확률 (소프트맥스)"))
    ax.set_ylabel(tr(lang, "class", "클래스"))
    ax.set_title(tr(lang, f"top {len(top)} of {len(view.classes)} classes", f"{len(view.classes)}개 중 상위 {len(top)}개"))
    best, p = top[0]
    heading = tr(lang, f"{title} predicts '{best}' ({p:.1%})", f"{title}의 예측: '{best}' ({p:.1%})")
    caption = tr(lang,
                 "Softmax turns the logits into probabilities that sum to 1 over all classes; the longest "
                 "bar is the prediction, and a close second means the model is unsure.",
                 "소프트맥스는 로짓을 모든 클래스에 대해 합이 1인 확률로 바꿉니다. 가장 긴 막대가 예측이며, "
                 "2위와 차이가 작으면 모델이 확신하지 못한다는 뜻입니다.")
    return save_figure(fig, path, heading, caption, lang)
