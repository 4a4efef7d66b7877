"""`layerlab serve`: its help, its default address, the warning for --host, and a taken port as one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import layerlab.web
from layerlab.cli import main


def test_serve_help_explains_the_pages_and_imports_neither_torch_nor_fastapi(tmp_path):
    code = ("import sys\nfrom layerlab.cli import main\n"
            "try:\n    main(['serve', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('HEAVY' if {'torch', 'fastapi', 'uvicorn'} & set(sys.modules) else 'LIGHT')")
    src = str(Path(layerlab.web.__file__).parents[2])   # this checkout's src/, whatever PYTHONPATH says
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "PYTHONPATH": src})
    out = done.stdout
    assert out.strip().splitlines()[-1] == "LIGHT", out + done.stderr
    flat = " ".join(out.split())
    for words in ("--port PORT", "--host HOST", "127.0.0.1", "runs list", "Try it", "feature maps", "?lang=ko"):
        assert words in flat, words


@pytest.fixture
def served(monkeypatch) -> dict:
    """What uvicorn.run was given (nothing listens: the call is recorded instead)."""
    import uvicorn

    calls: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.update(app=app, **kw))
    return calls


def test_serve_listens_on_127_0_0_1_by_default_and_answers_only_local_names(tmp_path, served, capsys):
    assert main(["serve", str(tmp_path), "--port", "8765"]) == 0
    assert (served["host"], served["port"]) == ("127.0.0.1", 8765)
    assert capsys.readouterr().out.startswith("layerlab explorer: http://127.0.0.1:8765/")
    from starlette.testclient import TestClient

    with TestClient(served["app"], base_url="http://attacker.example") as client:
        assert client.get("/api/runs").status_code == 400
    with TestClient(served["app"], base_url="http://localhost:8765") as client:
        assert client.get("/api/runs").json()["runs"] == []


def test_host_other_than_this_machine_warns_that_the_explorer_has_no_login(tmp_path, served, capsys):
    assert main(["serve", str(tmp_path), "--host", "0.0.0.0", "--port", "8766"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: --host 0.0.0.0: other machines") and "no login" in err
    assert served["host"] == "0.0.0.0"


def test_a_missing_runs_folder_warns_and_serves_the_explain_pages(tmp_path, served, capsys):
    assert main(["serve", str(tmp_path / "nowhere"), "--port", "8767"]) == 0
    assert "is not a folder of runs yet" in capsys.readouterr().err


def test_a_taken_port_is_one_line_and_exit_2(tmp_path, served, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(tmp_path), "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}: ") and err.endswith("(another port: --port N)")
    assert "\n" not in err and served == {}
    assert main(["serve", "--port", "70000"]) == 2
    assert "--port must be between 1 and 65535" in capsys.readouterr().err


def test_the_web_package_says_what_serve_needs():
    assert layerlab.web.LOCAL_HOST == "127.0.0.1"
