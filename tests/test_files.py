"""layerlab.files: atomic writes leave the old file or the new one, and never a temporary file."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerlab.files import atomic_open, atomic_write_bytes, atomic_write_json, atomic_write_text


def test_writes_create_the_folder_and_hold_exactly_what_was_written(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "a" / "b.bin", b"\x00\x01\xff")
    atomic_write_text(tmp_path / "a" / "t.txt", "3 × 4 = 12\n")
    atomic_write_json(tmp_path / "a" / "c.json", {"b": [1, 2], "a": 1.5})
    assert (tmp_path / "a" / "b.bin").read_bytes() == b"\x00\x01\xff"
    assert (tmp_path / "a" / "t.txt").read_bytes() == "3 × 4 = 12\n".encode("utf-8")
    # sorted keys, two-space indent, a final newline: the format run folders are diffed in
    assert (tmp_path / "a" / "c.json").read_text() == '{\n  "a": 1.5,\n  "b": [\n    1,\n    2\n  ]\n}\n'
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.bin", "c.json", "t.txt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "state.bin"
    atomic_write_bytes(path, b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "not bytes")  # type: ignore[arg-type]  # fails after the temp file exists
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(path) as f:
            f.write(b"half of the new")
            raise KeyboardInterrupt  # Ctrl-C mid-write
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.bin"]


def test_checkpoint_keeps_the_names_it_always_exported() -> None:
    from layerlab.engine import checkpoint

    assert checkpoint.atomic_write_json is atomic_write_json
    assert checkpoint.atomic_write_text is atomic_write_text
    assert checkpoint.atomic_write_bytes is atomic_write_bytes


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_and_folders_get_the_modes_the_umask_allows_not_0600(tmp_path: Path, umask: int) -> None:
    import os
    import stat

    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "run" / "config.json", "{}")
    finally:
        os.umask(old)
    # 0666 and 0777 less the umask, as open() and mkdir give: 0644 and 0755 under the usual 022
    assert stat.S_IMODE((tmp_path / "run" / "config.json").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o777 & ~umask
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["config.json"]
