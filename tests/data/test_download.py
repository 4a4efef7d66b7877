"""download / verify / locate against a real HTTP server on 127.0.0.1. Nothing here touches the
network beyond the loopback interface."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import socket
import threading
from pathlib import Path

import pytest

from layerlab.data.download import FileSpec, cache_dir, download, locate, verify
from layerlab.errors import LayerlabError

PAYLOAD = bytes(range(256)) * 4000  # 1,024,000 bytes: shows as 1.0 MB on the progress line
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files from a folder; /short/NAME announces 1000 bytes more than it sends, then hangs up."""

    def do_GET(self) -> None:
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        if self.path.startswith("/short/"):
            body = (Path(self.directory) / self.path.removeprefix("/short/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + 1000))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path: Path):
    """(base URL, folder it serves, list of request paths) for a threaded server on a free port."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "data.bin").write_bytes(PAYLOAD)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(served)))
    httpd.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served, httpd.hits  # type: ignore[attr-defined]
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LAYERLAB_DATA", raising=False)
    return tmp_path / "xdg" / "layerlab"


def closed_port_url() -> str:
    with socket.socket() as s:  # bind, learn the port, close: nothing listens there afterwards
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/data.bin"


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- cache_dir ---------------------------------------------------------------------------------


def test_cache_dir_follows_xdg_and_falls_back_to_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "layerlab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "layerlab"


# --- download ----------------------------------------------------------------------------------


def test_good_download_is_complete_verified_and_leaves_no_temp_files(server, private_cache, capsys) -> None:
    url, _, hits = server
    dest = private_cache / "demo" / "data.bin"
    assert download(url + "/data.bin", dest, sha256=PAYLOAD_SHA256, md5=PAYLOAD_MD5) == dest
    assert dest.read_bytes() == PAYLOAD
    assert files_in(private_cache) == ["data.bin"]  # the .part file was renamed, not copied
    assert verify(dest, sha256=PAYLOAD_SHA256) and verify(dest, md5=PAYLOAD_MD5.upper())
    err = capsys.readouterr().err
    # stderr is not a terminal under pytest: exactly one final line, no carriage returns
    assert err.count("\n") == 1 and "\r" not in err
    assert "data.bin: 1.0/1.0 MB 100%" in err and "MB/s" in err
    assert hits == ["/data.bin"]


def test_progress_redraws_in_place_on_a_terminal(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    fake = Terminal()
    monkeypatch.setattr("sys.stderr", fake)
    download(server[0] + "/data.bin", tmp_path / "out.bin", sha256=PAYLOAD_SHA256)
    out = fake.getvalue()
    assert out.startswith("\r") and out.endswith("\n") and out.count("\n") == 1
    assert "100%" in out.split("\r")[-1]


def test_no_progress_line_when_turned_off(server, tmp_path: Path, capsys) -> None:
    download(server[0] + "/data.bin", tmp_path / "out.bin", progress=False)
    assert capsys.readouterr().err == ""


def test_wrong_checksum_is_an_error_and_leaves_nothing_behind(server, private_cache) -> None:
    dest = private_cache / "demo" / "data.bin"
    with pytest.raises(LayerlabError) as info:
        download(server[0] + "/data.bin", dest, sha256="0" * 64, progress=False)
    message = str(info.value)
    assert "\n" not in message and "/data.bin" in message
    assert f"sha256 expected {'0' * 64}, got {PAYLOAD_SHA256}" in message
    assert files_in(private_cache) == []  # neither the file nor its temp file


def test_failed_download_keeps_an_existing_good_file(server, tmp_path: Path) -> None:
    dest = tmp_path / "kept" / "data.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"the old, good copy")
    with pytest.raises(LayerlabError):
        download(server[0] + "/data.bin", dest, md5="f" * 32, progress=False)
    assert dest.read_bytes() == b"the old, good copy"
    assert files_in(dest.parent) == ["data.bin"]


def test_interrupted_transfer_is_an_error_and_leaves_nothing_behind(server, private_cache) -> None:
    with pytest.raises(LayerlabError, match=f"ended after {len(PAYLOAD)} of {len(PAYLOAD) + 1000} bytes"):
        download(server[0] + "/short/data.bin", private_cache / "demo" / "data.bin", progress=False)
    assert files_in(private_cache) == []


def test_http_error_and_refused_connection_give_the_network_reason(server, tmp_path: Path) -> None:
    with pytest.raises(LayerlabError, match="HTTP 404"):
        download(server[0] + "/missing.bin", tmp_path / "out" / "m.bin", progress=False)
    with pytest.raises(LayerlabError, match="[Cc]onnection refused"):
        download(closed_port_url(), tmp_path / "out" / "m.bin", progress=False, timeout=5)
    assert files_in(tmp_path / "out") == []


def test_only_http_and_https_addresses_are_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for download")
    with pytest.raises(LayerlabError, match="expected an http:// or https:// address, got scheme 'file'"):
        download(secret.as_uri(), tmp_path / "copy.txt")
    assert not (tmp_path / "copy.txt").exists()


def test_verify_compares_every_given_checksum(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(PAYLOAD)
    assert verify(path, sha256=PAYLOAD_SHA256, md5=PAYLOAD_MD5)
    assert not verify(path, sha256=PAYLOAD_SHA256, md5="0" * 32)
    with pytest.raises(ValueError):
        verify(path)


# --- locate ------------------------------------------------------------------------------------


def spec_for(url: str, name: str = "data.bin") -> FileSpec:
    return FileSpec(name, f"{url}/{name}", sha256=PAYLOAD_SHA256)


def test_locate_prefers_the_users_folder_then_the_cache_then_a_download(server, tmp_path, private_cache) -> None:
    url, _, hits = server
    spec = spec_for(url)
    # nothing anywhere: download into cache/<dataset>/
    assert locate("demo", [spec], None) == {"data.bin": private_cache / "demo" / "data.bin"}
    assert hits == ["/data.bin"]
    # now cached: no second request
    assert locate("demo", [spec], None)["data.bin"] == private_cache / "demo" / "data.bin"
    assert hits == ["/data.bin"]
    # the user's folder wins over the cache, and its copy is used as it is (no checksum applies)
    root = tmp_path / "mine"
    root.mkdir()
    (root / "data.bin").write_bytes(b"my own version")
    assert locate("demo", [spec], root)["data.bin"] == root / "data.bin"
    assert hits == ["/data.bin"]


def test_locate_refetches_a_damaged_cache_copy(server, private_cache) -> None:
    url, _, hits = server
    (private_cache / "demo").mkdir(parents=True)
    (private_cache / "demo" / "data.bin").write_bytes(PAYLOAD[:-1])  # one byte short
    path = locate("demo", [spec_for(url)], None)["data.bin"]
    assert path.read_bytes() == PAYLOAD and hits == ["/data.bin"]


def test_locate_uses_system_copies_after_the_cache(server, tmp_path: Path, private_cache) -> None:
    url, _, hits = server
    system = tmp_path / "usr-share"
    system.mkdir()
    (system / "data.bin").write_bytes(b"packaged copy")
    assert locate("demo", [spec_for(url)], None, system_dirs=[system])["data.bin"] == system / "data.bin"
    (private_cache / "demo").mkdir(parents=True)
    (private_cache / "demo" / "data.bin").write_bytes(PAYLOAD)
    cached = locate("demo", [spec_for(url)], None, system_dirs=[system])["data.bin"]
    assert cached == private_cache / "demo" / "data.bin"
    assert hits == []


def test_locate_accepts_unpacked_files_aliases_and_a_per_dataset_subfolder(tmp_path: Path) -> None:
    spec = FileSpec("images.gz", "http://127.0.0.1:9/images.gz", md5="0" * 32, aliases=("images.old.gz",))
    root = tmp_path / "data"
    (root / "demo").mkdir(parents=True)
    (root / "images").write_bytes(b"unpacked")
    assert locate("demo", [spec], root, allow_download=False)["images.gz"] == root / "images"
    (root / "demo" / "images.old").write_bytes(b"alias, unpacked, in FOLDER/demo/")
    assert locate("demo", [spec], root, allow_download=False)["images.gz"] == root / "demo" / "images.old"


def test_locate_reads_the_datasets_subfolder_of_layerlab_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "env" / "demo").mkdir(parents=True)
    (tmp_path / "env" / "data.bin").write_bytes(b"loose: which dataset's would it be?")
    (tmp_path / "env" / "demo" / "data.bin").write_bytes(b"from the environment")
    monkeypatch.setenv("LAYERLAB_DATA", str(tmp_path / "env"))
    spec = spec_for("http://127.0.0.1:9")
    assert locate("demo", [spec], None, allow_download=False)["data.bin"] == tmp_path / "env" / "demo" / "data.bin"


def test_locate_rejects_a_data_folder_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(LayerlabError, match="demo: the data folder .*nowhere given by --data-dir does not exist"):
        locate("demo", [spec_for("http://127.0.0.1:9")], tmp_path / "nowhere")


def test_offline_with_no_copy_says_in_one_line_which_files_to_put_where(tmp_path: Path, private_cache) -> None:
    url = closed_port_url().removesuffix("/data.bin")
    specs = [spec_for(url, "a.gz"), spec_for(url, "b.gz")]
    with pytest.raises(LayerlabError) as info:
        locate("demo", specs, None)
    message = str(info.value)
    assert message.startswith(
        f"demo: put a.gz, b.gz into a folder and pass --data-dir FOLDER (or put them in {private_cache / 'demo'}) "
        f"(download from {url}/a.gz failed: "
    )
    assert "efused" in message and "\n" not in message
    with pytest.raises(LayerlabError, match=r"put a\.gz, b\.gz into a folder .*\(downloads are turned off\)"):
        locate("demo", specs, None, allow_download=False)
    with pytest.raises(LayerlabError, match=r"demo: put notes.txt into .* \(it has no official download address\)"):
        locate("demo", [FileSpec("notes.txt")], None)
    assert files_in(private_cache) == []


def test_an_unwritable_destination_is_a_one_line_error(server, tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(LayerlabError, match="cannot write into .*file-not-folder"):
        download(server[0] + "/data.bin", blocker / "data.bin", progress=False)
