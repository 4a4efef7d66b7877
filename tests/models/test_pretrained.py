"""load_pretrained: local .safetensors/.pt files and http(s) URLs, head swapping, clear errors.

Every test writes its own small weights (LeNet-5, 61,706 parameters); downloads come from an
http.server on 127.0.0.1, never the network.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from layerlab.errors import LayerlabError
from layerlab.models import get_model, list_models
from layerlab.models.pretrained import IMAGENET_URLS, load_pretrained


def _lenet(seed: int, **overrides: object) -> torch.nn.Module:
    torch.manual_seed(seed)
    return get_model("lenet5", **overrides)


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module, skip: tuple[str, ...] = ()) -> None:
    theirs = b.state_dict()
    for key, value in a.state_dict().items():
        if key not in skip:
            torch.testing.assert_close(value, theirs[key], rtol=0, atol=0)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".pth"])
def test_a_local_file_round_trips(tmp_path: Path, suffix: str) -> None:
    source, target = _lenet(0), _lenet(1)
    path = tmp_path / f"lenet{suffix}"
    if suffix == ".safetensors":
        save_file(source.state_dict(), path)
    else:
        torch.save(source.state_dict(), path)
    assert not torch.equal(source.features[0].weight, target.features[0].weight)
    assert load_pretrained(target, path) == []
    _assert_same_weights(source, target)


def test_a_checkpoint_dict_with_a_model_entry_is_accepted(tmp_path: Path) -> None:
    source, target = _lenet(0), _lenet(1)
    torch.save({"model": source.state_dict(), "epoch": 3}, tmp_path / "checkpoint.pt")
    load_pretrained(target, tmp_path / "checkpoint.pt")
    _assert_same_weights(source, target)


def test_skip_mismatched_head_keeps_the_new_head_and_loads_the_rest(tmp_path: Path) -> None:
    source, target = _lenet(0), _lenet(1, num_classes=3)
    save_file(source.state_dict(), tmp_path / "w.safetensors")
    fresh_head = target.classifier[4].weight.clone()
    mismatch = r"classifier\.4\.weight file \(10, 84\) vs model \(3, 84\).*skip_mismatched_head"
    with pytest.raises(LayerlabError, match=mismatch):
        load_pretrained(target, tmp_path / "w.safetensors")
    skipped = load_pretrained(target, tmp_path / "w.safetensors", skip_mismatched_head=True)
    assert skipped == ["classifier.4.bias", "classifier.4.weight"]
    _assert_same_weights(source, target, skip=tuple(skipped))
    torch.testing.assert_close(target.classifier[4].weight, fresh_head, rtol=0, atol=0)


def test_a_mismatch_outside_the_head_is_an_error_even_when_skipping_the_head(tmp_path: Path) -> None:
    save_file(_lenet(0).state_dict(), tmp_path / "w.safetensors")
    with pytest.raises(LayerlabError, match=r"features\.0\.weight file \(6, 1, 5, 5\) vs model \(6, 3, 5, 5\)"):
        load_pretrained(_lenet(1, in_channels=3), tmp_path / "w.safetensors", skip_mismatched_head=True)


def test_mismatched_keys_are_listed_up_to_five(tmp_path: Path) -> None:
    state = _lenet(0).state_dict()
    del state["features.3.bias"]
    state.update({f"extra{i}": torch.zeros(1) for i in range(7)})
    save_file(state, tmp_path / "w.safetensors")
    target = _lenet(1)
    with pytest.raises(LayerlabError) as info:
        load_pretrained(target, tmp_path / "w.safetensors")
    message = str(info.value)
    assert "\n" not in message
    assert "missing features.3.bias," in message
    assert "unexpected extra0, extra1, extra2, extra3, extra4 (+2 more)" in message
    # strict=False loads what matches and leaves the rest as it was
    before = target.features[3].bias.clone()
    load_pretrained(target, tmp_path / "w.safetensors", strict=False)
    torch.testing.assert_close(target.features[0].weight, state["features.0.weight"], rtol=0, atol=0)
    torch.testing.assert_close(target.features[3].bias, before, rtol=0, atol=0)


def test_missing_and_non_weights_files_are_one_line_errors(tmp_path: Path) -> None:
    model = _lenet(0)
    with pytest.raises(LayerlabError, match="no weights file at"):
        load_pretrained(model, tmp_path / "nothing.pt")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(LayerlabError, match=r"expected a weights file \(.*\), got notes.txt"):
        load_pretrained(model, tmp_path / "notes.txt")
    (tmp_path / "text.pt").write_text("not a pickle")
    with pytest.raises(LayerlabError, match="text.pt is not a weights file"):
        load_pretrained(model, tmp_path / "text.pt")
    (tmp_path / "text.safetensors").write_text("not safetensors either")
    with pytest.raises(LayerlabError, match="is not a weights file"):
        load_pretrained(model, tmp_path / "text.safetensors")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")  # loads safely, but is no state_dict
    with pytest.raises(LayerlabError, match="holds a Tensor, not a dict of weight tensors"):
        load_pretrained(model, tmp_path / "tensor.pt")


# --- URLs, served from this machine -------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep pytest's output clean
        pass


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """(base URL, folder it serves): an http.server on 127.0.0.1 for the duration of one test."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _sha8(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8]


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_url_is_downloaded_hash_checked_and_cached(
    served: tuple[str, Path], tmp_path: Path, suffix: str
) -> None:
    base, folder = served
    source = _lenet(0)
    plain = folder / f"plain{suffix}"
    if suffix == ".safetensors":
        save_file(source.state_dict(), plain)
    else:
        torch.save(source.state_dict(), plain)
    named = folder / f"lenet-{_sha8(plain)}{suffix}"  # torchvision's naming: name-<sha256 prefix>
    plain.rename(named)
    cache = tmp_path / "cache"
    target = _lenet(1)
    load_pretrained(target, f"{base}/{named.name}", model_dir=cache)
    _assert_same_weights(source, target)
    assert (cache / named.name).is_file()
    named.unlink()  # the second load must come from the cache
    load_pretrained(_lenet(2), f"{base}/{named.name}", model_dir=cache)


def test_a_wrong_hash_or_a_missing_url_is_a_one_line_error(served: tuple[str, Path], tmp_path: Path) -> None:
    base, folder = served
    torch.save(_lenet(0).state_dict(), folder / "lenet-deadbeef.pth")  # name claims a hash it lacks
    cache = tmp_path / "cache"
    with pytest.raises(LayerlabError, match="lenet-deadbeef.pth did not give usable weights"):
        load_pretrained(_lenet(1), f"{base}/lenet-deadbeef.pth", model_dir=cache)
    assert not (cache / "lenet-deadbeef.pth").exists()  # nothing half-checked is left in the cache
    load_pretrained(_lenet(1), f"{base}/lenet-deadbeef.pth", model_dir=cache, check_hash=False)
    with pytest.raises(LayerlabError, match=r"could not download .*/absent\.pth: HTTP Error 404"):
        load_pretrained(_lenet(1), f"{base}/absent.pth", model_dir=cache)


def test_imagenet_urls_name_registered_models_and_carry_a_hash() -> None:
    assert set(IMAGENET_URLS) == {"alexnet", "resnet18", "resnet34", "resnet50"} | {
        f"vgg{depth}{bn}" for depth in (11, 13, 16, 19) for bn in ("", "_bn")}
    assert set(IMAGENET_URLS) <= set(list_models())
    for name, url in IMAGENET_URLS.items():
        filename = url.rsplit("/", 1)[-1]
        assert url.startswith("https://download.pytorch.org/models/") and filename.startswith(name)
        assert torch.hub.HASH_REGEX.search(filename) is not None, url


def test_a_bug_inside_the_download_is_not_reworded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_download(*args: object, **kwargs: object) -> None:
        raise AttributeError("'NoneType' object has no attribute 'headers'")   # a bug, not the network

    monkeypatch.setattr(torch.hub, "download_url_to_file", broken_download)
    with pytest.raises(AttributeError, match="no attribute 'headers'"):
        load_pretrained(_lenet(0), "http://127.0.0.1:9/lenet-deadbeef.pth", model_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
