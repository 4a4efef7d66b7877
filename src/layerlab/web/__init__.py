"""`layerlab serve`: a local web explorer of your runs, your models and the course's formulas.

    from layerlab.web import create_app     # the app, for tests or another ASGI server
    serve("runs", port=8000)                # what `layerlab serve runs --port 8000` does

See app.py for the pages and the API. The site is plain HTML/JS/CSS shipped in the package
(web/static): no internet, no build step.
"""

from __future__ import annotations

import socket
import warnings
from pathlib import Path

from layerlab.errors import LayerlabError, LayerlabWarning
from layerlab.web.app import create_app

__all__ = ["LOCAL_HOST", "create_app", "serve"]

LOCAL_HOST = "127.0.0.1"
LOCAL_NAMES = (LOCAL_HOST, "localhost", "::1")     # what a browser on this machine may call it


def serve(runs_dir: str | Path = "runs", *, host: str | None = None, port: int = 8000) -> None:
    """Serve the explorer until Ctrl-C; on 127.0.0.1 unless `host` says otherwise (with a warning)."""
    import uvicorn

    if not 0 < port < 65536:
        raise LayerlabError(f"--port must be between 1 and 65535, got {port}")
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        warnings.warn(f"{runs_dir} is not a folder of runs yet: the runs list is empty until a run writes there "
                      "(the Explain pages work)", LayerlabWarning, stacklevel=2)
    local = host is None or host in LOCAL_NAMES
    if not local:
        warnings.warn(f"--host {host}: other machines that can reach this one can open the explorer; it has no "
                      "login, so they can see your runs and upload images to your models", LayerlabWarning, stacklevel=2)
    host = host or LOCAL_HOST
    # a browser on this machine may say localhost; with --host, any name that reaches the server is fine
    allowed = LOCAL_NAMES if local else None
    _check_free(host, port)
    app = create_app(runs_dir, allowed_hosts=allowed)
    shown = f"[{host}]" if ":" in host else host
    print(f"layerlab explorer: http://{shown}:{port}/  (runs from {runs_dir}; Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _check_free(host: str, port: int) -> None:
    """A one-line error now if the address cannot be listened on (uvicorn would log and exit 1)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as uvicorn does
        try:
            probe.bind((host, port))
        except OSError as exc:   # the port is taken, or the address is not this machine's
            raise LayerlabError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                                "(another port: --port N)") from None
