"""`layerlab runs [DIR] [--json]`: every run folder as an aligned table, or one JSON object."""

from __future__ import annotations

import json

from layerlab.cli import main
from layerlab.labs import LABS


def make_run(root, lab: str, stamp: str, config: dict, result: dict | None = None) -> None:
    path = root / lab / stamp
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"lab": lab, **config}))
    if result is not None:
        (path / "result.json").write_text(json.dumps(result))


def test_runs_prints_an_aligned_table_newest_first(tmp_path, capsys):
    make_run(tmp_path, "mnist-mlp", "20250301-140509", {"status": "finished", "started": "2025-03-01T14:05:09+09:00"},
             {"test_accuracy": 0.97123})
    make_run(tmp_path, "house-prices", "20250302-090000", {"status": "diverged", "started": "2025-03-02T09:00:00+09:00"})
    (tmp_path / "cubic-sin" / "x").mkdir(parents=True)
    (tmp_path / "cubic-sin" / "x" / "config.json").write_bytes(b"\xff\xfe not json")
    assert main(["runs", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["lab", "status", "metric", "value", "started", "run_dir"]
    assert lines[1].split() == ["cubic-sin", "unreadable", "-", "-", "-", str(tmp_path / "cubic-sin" / "x")]
    assert lines[2].split() == ["house-prices", "diverged", "mlp_rmse", "↓", "-", "2025-03-02", "09:00",
                                str(tmp_path / "house-prices" / "20250302-090000")]
    assert lines[3].split() == ["mnist-mlp", "finished", "test_accuracy", "↑", "0.9712", "2025-03-01", "14:05",
                                str(tmp_path / "mnist-mlp" / "20250301-140509")]
    assert len({line.index(line.split()[1]) for line in lines}) == 1        # the status column lines up


def test_runs_json_is_one_object_on_the_last_line(tmp_path, capsys):
    make_run(tmp_path, "cubic-sin", "s", {"status": "finished", "started": "2025-03-01T14:05:09+00:00"},
             {"max_coefficient_gap": 0.0125})
    assert main(["runs", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out == {"runs": [{"lab": "cubic-sin", "status": "finished", "metric": "max_coefficient_gap",
                             "value": 0.0125, "higher_is_better": False, "started": "2025-03-01T14:05:09+00:00",
                             "run_dir": str(tmp_path / "cubic-sin" / "s")}]}


def test_runs_in_a_missing_folder_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["runs", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nowhere'} is not a folder of runs " \
                                              "(it should hold <lab>/<timestamp>/config.json)"


def test_every_lab_declares_its_key_metric_and_direction():
    for name in sorted(LABS.names()):
        meta = LABS.get(name).meta
        assert isinstance(meta["metric"], str) and isinstance(meta["higher_is_better"], bool), name
