"""Load published (or your own) weights into a zoo model: the first step of transfer learning.

Course unit: 전이학습 (transfer learning). A model trained on ImageNet already knows edges,
textures and shapes; we keep those weights and replace only the head, the last Linear layer,
whose 1000 ImageNet classes do not fit our task:

    model = get_model("vgg16", num_classes=10)
    load_pretrained(model, IMAGENET_URLS["vgg16"], skip_mismatched_head=True)
    # -> ["classifier.6.weight", "classifier.6.bias"]: those stay freshly initialised

Files are read safely: `.safetensors` holds only tensors, and `.pt`/`.pth` files are opened with
`torch.load(weights_only=True)`, which refuses to run code hidden in a pickle.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import urllib.error
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from layerlab.errors import LayerlabError

# torchvision's published ImageNet-1k weights (IMAGENET1K_V1). The 8 hex digits in each file name
# are the start of its SHA-256, which torch.hub checks after downloading.
IMAGENET_URLS: dict[str, str] = {
    "alexnet": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "vgg11": "https://download.pytorch.org/models/vgg11-8a719046.pth",
    "vgg13": "https://download.pytorch.org/models/vgg13-19584684.pth",
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    "vgg11_bn": "https://download.pytorch.org/models/vgg11_bn-6002323d.pth",
    "vgg13_bn": "https://download.pytorch.org/models/vgg13_bn-abd245e5.pth",
    "vgg16_bn": "https://download.pytorch.org/models/vgg16_bn-6c64b313.pth",
    "vgg19_bn": "https://download.pytorch.org/models/vgg19_bn-c79401a0.pth",
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "resnet34": "https://download.pytorch.org/models/resnet34-b627a593.pth",
    "resnet50": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
}

_WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")


def load_pretrained(
    model: nn.Module,
    source: str | Path,
    *,
    strict: bool = True,
    skip_mismatched_head: bool = False,
    check_hash: bool = True,
    model_dir: str | Path | None = None,
) -> list[str]:
    """Copy the weights in `source` (a local file or an http(s) URL) into `model`.

    `strict`: every tensor of the model must be in the file and vice versa (the head excepted
    when it is skipped). `skip_mismatched_head`: head tensors (those of the model's last Linear
    layer) whose shapes differ from the file's, e.g. 1000 ImageNet classes vs 10, are left as
    initialised. `check_hash` and `model_dir` apply to URLs: the SHA-256 prefix in the file name
    is verified, and downloads are cached in `model_dir` (default: torch.hub's cache).
    Returns the names of the skipped head tensors (empty when none were skipped).
    """
    state = _read_state_dict(source, check_hash=check_hash, model_dir=model_dir)
    own = model.state_dict()
    mismatched = [k for k in own.keys() & state.keys() if own[k].shape != state[k].shape]
    head = set(_head_keys(model))
    skipped = sorted(k for k in mismatched if k in head) if skip_mismatched_head else []
    others = sorted(k for k in mismatched if k not in skipped)
    if others:
        hint = "; pass skip_mismatched_head=True to keep a new head" if set(others) <= head else ""
        details = ", ".join(
            f"{k} file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in others[:5]
        )
        raise LayerlabError(
            f"{len(others)} tensor shapes in {source} differ from the model's: {details}{hint}"
        )
    state = {k: v for k, v in state.items() if k not in skipped}
    missing = sorted(own.keys() - state.keys() - set(skipped))
    unexpected = sorted(state.keys() - own.keys())
    if strict and (missing or unexpected):
        raise LayerlabError(
            f"the keys in {source} do not match the model's: "
            f"missing {_first(missing)}, unexpected {_first(unexpected)}"
        )
    model.load_state_dict(state, strict=False)
    return skipped


def _read_state_dict(
    source: str | Path, *, check_hash: bool, model_dir: str | Path | None
) -> dict[str, Tensor]:
    """Tensors by name, from a URL (downloaded once, then cached) or a local file."""
    text = str(source)
    if text.startswith(("http://", "https://")):
        return read_weights(_download(text, check_hash=check_hash, model_dir=model_dir), source=text)
    return read_weights(Path(source))


def read_weights(path: Path, *, source: object = None) -> dict[str, Tensor]:
    """The tensors in a .safetensors file or a weights-only torch.save file (.pt/.pth), by name.

    A file that is not one of those, is cut short, or holds code is a one-line error that names
    `source` (default: the path).
    """
    source = path if source is None else source
    if not path.is_file():
        raise LayerlabError(f"no weights file at {path}")
    if path.suffix not in _WEIGHT_SUFFIXES:
        raise LayerlabError(f"expected a weights file ({', '.join(_WEIGHT_SUFFIXES)}), got {path.name}")
    if path.suffix != ".safetensors":
        return _as_state_dict(load_torch_file(path, source=source), source)
    try:
        return load_file(path)
    except SafetensorError as exc:   # a header that does not parse: truncated, text, another format
        raise LayerlabError(f"{source} is not a weights file: {_one_line(exc)}") from None


# torch.save's format before torch 1.6 (still used by older published weights): a pickle that
# starts with this magic number. Since 1.6 the file is a zip archive.
_LEGACY_TORCH_HEADER = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)


def load_torch_file(path: Path, *, source: object = None, kind: str = "weights file") -> Any:
    """torch.load(path, weights_only=True), with a one-line error for a file it cannot read.

    weights_only refuses to run code hidden in a pickle; a file torch.save did not write, or one
    cut short, is refused before unpickling starts. The error says "`source` is not a `kind`".
    """
    source = path if source is None else source
    if not path.is_file():
        raise LayerlabError(f"no {kind} at {path}")
    with path.open("rb") as f:
        legacy = f.read(len(_LEGACY_TORCH_HEADER)) == _LEGACY_TORCH_HEADER
    if not (legacy or zipfile.is_zipfile(path)):   # a cut zip loses its directory, at the end
        raise LayerlabError(f"{source} is not a {kind}: not written by torch.save, or cut short")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:   # weights_only's refusal: a class, a function, bad opcodes
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f"it asks for {found.group(1)}, which" if found else "its contents are not plain tensors, which"
        raise LayerlabError(f"{source} is not a {kind}: {what} weights-only loading refuses") from None
    except (EOFError, RuntimeError) as exc:   # a pickle cut short; torch's zip reader on a damaged archive
        raise LayerlabError(f"{source} is not a {kind}: {type(exc).__name__}: {_one_line(exc)}") from None


def _download(url: str, *, check_hash: bool, model_dir: str | Path | None) -> Path:
    """The file at `url` in the cache folder (default: torch.hub's), downloaded once.

    torch.hub's naming rule: a file named `name-<hex>.ext` promises a SHA-256 that starts with <hex>;
    with `check_hash`, a download that breaks the promise is deleted and refused.
    """
    directory = Path(model_dir) if model_dir is not None else Path(torch.hub.get_dir()) / "checkpoints"
    name = url.split("?")[0].rsplit("/", 1)[-1]
    target = directory / name
    if target.is_file():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{name}.part"
    try:
        torch.hub.download_url_to_file(url, str(partial), progress=True)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise LayerlabError(f"could not download {url}: {_one_line(exc)}") from None
    match = torch.hub.HASH_REGEX.search(name)
    if check_hash and match and not _sha256(partial).startswith(match.group(1)):
        partial.unlink()
        raise LayerlabError(f"{url} did not give usable weights: its SHA-256 does not start with {match.group(1)}")
    os.replace(partial, target)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _as_state_dict(obj: object, source: object) -> dict[str, Tensor]:
    """Accept a plain state_dict, or a checkpoint dict holding one under "state_dict" or "model"."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise LayerlabError(f"{source} holds a {type(obj).__name__}, not a dict of weight tensors")
    return dict(obj)


def _head_keys(model: nn.Module) -> list[str]:
    """state_dict keys of the model's last Linear layer: the classification head."""
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        return []
    name, layer = linears[-1]
    return [f"{name}.{key}" for key in layer.state_dict()]


def _first(names: list[str], n: int = 5) -> str:
    """At most `n` names, so the error stays one line."""
    shown = ", ".join(names[:n]) or "none"
    return shown + (f" (+{len(names) - n} more)" if len(names) > n else "")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
