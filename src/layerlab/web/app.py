"""The explorer's web app (FastAPI on Starlette): four pages of static HTML/JS and a small JSON API.

Pages (static files in layerlab/web/static, no build step, nothing from the internet):
    /                   the runs: lab, status, main metric, date
    /run?id=ID          one run: config, per-epoch table and curves, figures, report.md, model summary
    /try?id=ID          upload (or draw) an image: prediction, softmax bars, every conv layer's feature maps;
                        a click on a map's pixel: its dot product and receptive field
    /compare?ids=A,B    the curves of several runs, one line per run
    /explain            conv output size with sliders; 2x2 pooling; softmax with editable logits
Add `?lang=ko` for Korean captions (their font, NanumGothic, is served from /fonts/korean.ttf).

API (JSON; the browser sends run ids, never a path):
    GET  /api/runs                         every run, newest first
    GET  /api/runs/{id}                    a run page's contents
    GET  /api/runs/{id}/metrics            status and per-epoch rows (a running run's page polls it)
    GET  /api/runs/{id}/model              task, classes, per-layer summary, whether it can be tried
    GET  /api/runs/{id}/figures/{name}     a PNG the run drew
    POST /api/runs/{id}/predict            multipart field `image` -> prediction and feature maps
    POST /api/runs/{id}/pixel?layer=L&channel=C&y=Y&x=X
                                           the same upload -> the dot product behind that feature-map
                                           number and the input pixels it depends on
    POST /api/runs/{id}/samples?count=N&seed=S   a VAE's or GAN's new images
    POST /api/runs/{id}/text               {"prompt": ..., "length", "temperature", "seed"}: a language
                                           model's continuation or a translation
The predict endpoint serves every task that reads an image through the task's own `layerlab
predict` predictor (web/tasks.py): masks, reconstructions, D(x), read text, boxes.

Every refused request is a JSON object {"error": "one line"} with a 4xx status; an unexpected
error is a JSON 500 with one line, its traceback only in the server's terminal.
"""

from __future__ import annotations

import functools
import io
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from layerlab.errors import LayerlabError
from layerlab.viz.style import korean_font_path
from layerlab.web.models import ModelCache
from layerlab.web.runs import RunIndex
from layerlab.web.uploads import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS, read_upload

STATIC = Path(__file__).parent / "static"
PAGES = {"/": "runs.html", "/run": "run.html", "/try": "try.html", "/compare": "compare.html", "/explain": "explain.html"}
# the pages load scripts and styles from this server only; feature maps arrive as data: PNGs
HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
log = logging.getLogger("layerlab.web")


def create_app(runs_dir: str | Path, *, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_UPLOAD_PIXELS,
               allowed_hosts: tuple[str, ...] | None = None) -> FastAPI:
    """The explorer for the runs under `runs_dir`. `allowed_hosts`: the Host headers answered (None:
    any); `layerlab serve` passes its own address, so a web page elsewhere cannot reach this server
    through a DNS name that points at 127.0.0.1 (DNS rebinding)."""
    index = RunIndex(Path(runs_dir))
    models = ModelCache(index)
    app = FastAPI(title="layerlab", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.index, app.state.models = index, models
    _add_errors(app)
    _add_headers(app, allowed_hosts)

    @app.get("/api/runs")
    def runs() -> dict[str, Any]:
        return {"runs": index.refresh(), "root": Path(runs_dir).name or str(runs_dir)}

    @app.get("/api/runs/{run_id}")
    def run(run_id: str) -> dict[str, Any]:
        return index.details(run_id)

    @app.get("/api/runs/{run_id}/metrics")
    def metrics(run_id: str) -> dict[str, Any]:
        return index.metrics(run_id)

    @app.get("/api/runs/{run_id}/model")
    def model(run_id: str) -> dict[str, Any]:
        return models.info(run_id)

    @app.get("/api/runs/{run_id}/figures/{name:path}")
    def figure(run_id: str, name: str) -> FileResponse:
        return FileResponse(index.figure(run_id, name), media_type="image/png")

    @app.post("/api/runs/{run_id}/predict")
    async def predict(run_id: str, request: Request) -> dict[str, Any]:
        index.path(run_id)   # an unknown id is refused before the upload is read
        data = await read_upload(request, max_bytes=max_bytes)
        return await run_in_threadpool(models.try_image, run_id, data, max_pixels=max_pixels)

    @app.post("/api/runs/{run_id}/pixel")
    async def pixel(run_id: str, request: Request, layer: str, channel: int, y: int, x: int) -> dict[str, Any]:
        index.path(run_id)
        data = await read_upload(request, max_bytes=max_bytes)
        return await run_in_threadpool(models.pixel, run_id, data, layer, channel, y, x, max_pixels=max_pixels)

    @app.post("/api/runs/{run_id}/samples")
    async def samples(run_id: str, count: int = 16, seed: int = 0) -> dict[str, Any]:
        return await run_in_threadpool(models.samples, run_id, count, seed)

    @app.post("/api/runs/{run_id}/text")
    async def text(run_id: str, prompt: TextPrompt) -> dict[str, Any]:
        return await run_in_threadpool(models.text, run_id, prompt.prompt, length=prompt.length,
                                       temperature=prompt.temperature, seed=prompt.seed)

    @app.get("/fonts/korean.ttf", include_in_schema=False)
    def korean_font() -> Response:
        return Response(_korean_font(), media_type="font/ttf", headers={"Cache-Control": "max-age=86400"})

    for route, page in PAGES.items():
        app.add_api_route(route, _page(page), methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


@functools.lru_cache(maxsize=1)
def _korean_font() -> bytes:
    """NanumGothic from koreanize-matplotlib (already a dependency), so Korean captions need no system
    font; without its empty TSI* tables (hinting sources), for which browsers refuse the whole font."""
    from fontTools.ttLib import TTFont   # matplotlib's own dependency

    font = TTFont(korean_font_path())
    for tag in [tag for tag in font.keys() if tag.startswith("TSI")]:
        del font[tag]
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


class TextPrompt(BaseModel):
    """POST /api/runs/{id}/text: a language model's prompt or a translator's sentence."""

    prompt: str
    length: int = 200
    temperature: float | None = None
    seed: int | None = None


def _page(name: str) -> Callable[[], FileResponse]:
    def page() -> FileResponse:
        return FileResponse(STATIC / name, media_type="text/html")
    return page


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": (message.splitlines() or [""])[0][:500]}, status_code=status)


def _add_errors(app: FastAPI) -> None:
    """Every error as {"error": "one line"}: a user's mistake 4xx, a bug 500 (traceback logged, not sent)."""

    @app.exception_handler(LayerlabError)
    async def layerlab_error(request: Request, exc: LayerlabError) -> JSONResponse:
        return _error(getattr(exc, "status", 400), str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        text = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404:
            text = f"no page or API at {request.url.path[:100]}"
        return _error(exc.status_code, text)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("layerlab serve: %s %s failed", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); the traceback is in the server's terminal")


def _add_headers(app: FastAPI, allowed_hosts: tuple[str, ...] | None) -> None:
    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        host = request.headers.get("host", "").rsplit(":", 1)[0].strip("[]")
        if allowed_hosts is not None and host not in allowed_hosts:
            response: Response = _error(400, f"this server answers requests for {', '.join(allowed_hosts)}, "
                                             f"not for the host {host[:60]!r}")
        else:
            response = await call_next(request)
        response.headers.update(HEADERS)
        return response
