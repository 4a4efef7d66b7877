"""The README's screenshots of `layerlab serve`: python docs/web/screenshots.py DATA_DIR [RUNS_DIR]

Trains lenet-mnist (its defaults: 4 epochs of MNIST) and mnist-mlp on the bundled digits
into a temporary runs folder (or reuses RUNS_DIR, a folder an earlier call trained), serves it,
and photographs the pages in Debian's Chromium (Playwright) into docs/web/*.png, quantised to 64
colours to keep them small. DATA_DIR holds the four MNIST .gz files.
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from PIL import Image
from playwright.sync_api import sync_playwright

from layerlab.data import get_dataset
from layerlab.labs import run_lab
from layerlab.web import create_app

OUT = Path(__file__).resolve().parent


def main(data_dir: str, runs: str | None = None) -> None:
    root = Path(runs) if runs else Path(tempfile.mkdtemp()) / "runs"
    if not runs:
        run_lab("lenet-mnist", {"data_dir": data_dir, "progress": False}, out=root)
        run_lab("mnist-mlp", {"dataset": "digits", "epochs": 5, "progress": False}, out=root)
    print("runs in", root)
    lenet = max((root / "lenet-mnist").iterdir())
    run = lenet.relative_to(root).as_posix().replace("/", "~")
    digit = root.parent / "digit.png"
    Image.fromarray(get_dataset("mnist", split="test", root=data_dir).inputs[0, 0].numpy()).save(digit)
    server = uvicorn.Server(uvicorn.Config(create_app(root), host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    site = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 640})
        page.goto(site + "/")
        page.wait_for_selector("tr.run")
        shoot(page, "runs")
        page.goto(f"{site}/run?id={run}")
        page.wait_for_selector("#summary")
        shoot(page, "run", height=900)
        page.goto(f"{site}/try?id={run}")
        page.set_input_files("#image", str(digit))
        page.wait_for_selector("section.layer")
        shoot(page, "try", height=900)
        page.goto(site + "/")
        page.wait_for_selector("input.pick")
        for box in page.locator("input.pick").all():
            box.check()
        page.locator("#compare").click()
        page.wait_for_selector("svg.chart")
        shoot(page, "compare")
        page.goto(site + "/explain?lang=ko")
        for slider, value in (("#n", "7"), ("#f", "3"), ("#s", "3")):
            page.locator(slider).fill(value)
        shoot(page, "explain-ko", height=1100)
        browser.close()
    server.should_exit = True


def shoot(page, name: str, height: int = 640) -> None:
    page.set_viewport_size({"width": 1000, "height": height})
    page.evaluate("""async () => { await document.fonts.load("16px 'layerlab Korean'", "한"); }""")   # Korean glyphs loaded
    page.evaluate("document.fonts.ready")
    image = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    image.quantize(colors=64).save(OUT / f"{name}.png", optimize=True)
    print(OUT / f"{name}.png", (OUT / f"{name}.png").stat().st_size, "bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path.home() / "data" / "mnist"), *sys.argv[2:3])
