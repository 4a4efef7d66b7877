"""The explorer in a real browser: headless Chromium (Debian's package) driven by Playwright.

One server and one browser for the whole module (the CPU is shared); each test opens its own page.
Chromium is a system package (.ci/run installs it with apt-get); without it these tests fail in one
line saying how to install it: a skipped browser test could hide a broken explorer.
"""

from __future__ import annotations

import math
import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.web.conftest import png_bytes, run_id

from playwright import sync_api             # the test extra

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:     # a system package pip cannot install: a missing one is a broken set-up, never a pass
    pytest.fail("the browser tests need Debian's Chromium: apt-get install chromium (.ci/run installs it)",
                pytrace=False)


@pytest.fixture(scope="module")
def site(runs_root) -> str:
    """The explorer on a free port of 127.0.0.1, served by uvicorn from a thread; its base URL."""
    import uvicorn

    from layerlab.web import create_app

    app = create_app(runs_root["root"], allowed_hosts=("127.0.0.1",))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the explorer did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    page.close()
    assert errors == [], errors          # no JavaScript error on any page


def test_the_runs_list_shows_the_tests_run_and_leads_to_its_page(page, site, runs_root):
    page.goto(site + "/")
    row = page.locator(f'tr.run[data-id="{run_id(runs_root["root"], runs_root["lenet"])}"]')
    sync_api.expect(row).to_contain_text("lenet-mnist")
    sync_api.expect(row).to_contain_text("finished")
    sync_api.expect(row).to_contain_text("test_accuracy ↑")
    sync_api.expect(row).to_contain_text("1.0000")
    row.locator("a").click()
    sync_api.expect(page.locator("#summary")).to_contain_text("5·5·1·6 + 6 = 156")       # the model summary
    sync_api.expect(page.locator("#model")).to_contain_text("61,706")
    assert page.locator("#charts svg.chart").count() >= 2                                 # loss and accuracy curves
    assert page.locator("#epochs tr").count() == 3                                        # header + 2 epochs
    sync_api.expect(page.locator(".report h1")).to_have_text("LeNet-5 on MNIST: the first convolutional network")


def test_two_checked_runs_are_compared_curve_by_curve(page, site, runs_root):
    page.goto(site + "/")
    sync_api.expect(page.locator("#compare")).to_be_disabled()
    for name in ("lenet", "mlp"):
        page.locator(f'input.pick[value="{run_id(runs_root["root"], runs_root[name])}"]').check()
    page.locator("#compare").click()
    sync_api.expect(page.locator("#compared li")).to_have_count(2)
    titles = page.locator("#charts svg.chart text.title").all_text_contents()
    assert {"train_loss", "val_loss", "val_accuracy"} <= set(titles)                    # what both runs record
    assert page.locator("#charts svg.chart").first.locator("polyline").count() == 2       # one line per run


def test_an_upload_gives_a_prediction_softmax_bars_and_feature_maps(page, site, runs_root, tmp_path):
    (tmp_path / "three.png").write_bytes(png_bytes(3))
    page.goto(f"{site}/try?id={run_id(runs_root['root'], runs_root['lenet'])}")
    page.set_input_files("#image", str(tmp_path / "three.png"))
    sync_api.expect(page.locator("#prediction")).to_have_text(re_prediction("3"))
    assert page.locator("#bars .bar").count() == 10
    layers = page.locator("#maps section.layer")
    sync_api.expect(layers).to_have_count(2)
    sync_api.expect(layers.nth(0).locator("h3")).to_contain_text("features.0: 6@28×28")
    assert layers.nth(0).locator("img.map").count() == 6 and layers.nth(1).locator("img.map").count() == 16
    widths = layers.nth(0).locator("img.map").evaluate_all("images => images.map(i => i.naturalWidth)")
    assert widths == [28] * 6                                                             # decoded PNGs, 28 wide
    # a click on conv1's channel 2 at (row 10, column 12) of its 28x28 map: shown 64 px wide, so pixel (23, 28)
    layers.nth(0).locator("img.map").nth(2).click(position={"x": 28, "y": 23})
    sync_api.expect(page.locator("#pixel-title")).to_contain_text("features.0[2] row 10, column 12 = ")
    sync_api.expect(page.locator("#pixel-formula")).to_contain_text("= b + Σ 1 input channels × 5×5 (w · x)")
    value = page.locator("#pixel-title").text_content().rsplit("= ", 1)[1]
    assert page.locator("#pixel-formula").text_content().rsplit("= ", 1)[1] == value   # the recomputed sum is the number
    assert page.locator("#pixel-terms td").count() == 25
    sync_api.expect(page.locator("#pixel-region")).to_contain_text("rows 8–12, columns 10–14 (25 pixels)")


def test_a_digit_drawn_on_the_pad_is_predicted(page, site, runs_root):
    page.goto(f"{site}/try?id={run_id(runs_root['root'], runs_root['lenet'])}")
    pad = page.locator("#pad")
    sync_api.expect(pad).to_be_visible()                        # a grey-scale model: the pad is offered
    box = pad.bounding_box()
    y = box["y"] + (3 + 2 * 5) * 8                              # the bar of class 5 (rows 12-13 of 28), x8 on the pad
    page.mouse.move(box["x"] + 40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + 190, y, steps=10)
    page.mouse.up()
    page.locator("#draw-predict").click()
    sync_api.expect(page.locator("#prediction")).to_have_text(re_prediction("5"))
    sync_api.expect(page.locator("#maps section.layer")).to_have_count(2)


def re_prediction(label: str):
    import re

    return re.compile(rf"^{label} \(\d\.\d{{4}}\)$")


def test_a_bad_upload_shows_the_servers_one_line_error(page, site, runs_root, tmp_path):
    (tmp_path / "notes.png").write_text("not an image at all\n")
    page.goto(f"{site}/try?id={run_id(runs_root['root'], runs_root['lenet'])}")
    page.set_input_files("#image", str(tmp_path / "notes.png"))
    sync_api.expect(page.locator("#error")).to_be_visible()
    sync_api.expect(page.locator("#error")).to_have_text(
        "Error: the upload is not an image this server can read (PNG, JPEG, BMP, GIF, TIFF or WebP)")
    assert page.locator("#result").is_hidden()


def test_the_conv_size_sliders_update_the_formula_and_softmax_follows_the_logits(page, site):
    page.goto(site + "/explain")
    for slider, value in (("#n", "7"), ("#f", "3"), ("#p", "0"), ("#s", "3")):
        page.locator(slider).fill(value)
    sync_api.expect(page.locator("#formula")).to_have_text("(N − F + 2P)/S + 1 = (7 − 3 + 2·0)/3 + 1 = 2.33  →  2×2")
    sync_api.expect(page.locator("#conv-note")).to_contain_text("2.33 is not a whole number")
    page.locator("#p").fill("1")
    sync_api.expect(page.locator("#formula")).to_have_text("(N − F + 2P)/S + 1 = (7 − 3 + 2·1)/3 + 1 = 3  →  3×3")
    page.locator('input.logit[data-index="2"]').fill("3")                                  # logits 2, 1, 3
    exps = [math.exp(z - 3) for z in (2, 1, 3)]
    sync_api.expect(page.locator("#logits tr.best td").first).to_have_text("2")
    sync_api.expect(page.locator("#logits .prob").nth(2)).to_have_text(f"{exps[2] / sum(exps):.4f}")


def test_pooling_takes_each_windows_max_or_mean_as_the_numbers_change(page, site):
    page.goto(site + "/explain")
    outputs = page.locator("#pool-output td")
    sync_api.expect(outputs).to_have_text(["6", "8", "3", "4"])                         # max of [[1,1,2,4],[5,6,7,8],...]
    page.locator('#pool-input input[data-r="0"][data-c="0"]').fill("9")
    sync_api.expect(outputs.first).to_have_text("9")
    page.locator("#pool-kind").select_option("avg")
    sync_api.expect(outputs).to_have_text(["5.25", "5.25", "2", "2"])                   # (9+1+5+6)/4, (2+4+7+8)/4, ...
    sync_api.expect(page.locator("#pool-formula")).to_have_text("mean(9, 1, 5, 6) = 5.25 · 4×4 → (4 − 2)/2 + 1 = 2 → 2×2")


def test_korean_captions_with_lang_ko(page, site):
    page.goto(site + "/explain?lang=ko")
    sync_api.expect(page.locator("#conv-title")).to_have_text("합성곱의 출력 크기")
    sync_api.expect(page.locator("header a.active")).to_have_text("개념 설명")
    assert page.locator("header a").first.get_attribute("href") == "/?lang=ko"            # links keep the language


def test_the_activation_slider_gives_the_function_and_its_slope(page, site):
    page.goto(site + "/explain")
    page.locator("#act-x").fill("0")
    formula = page.locator("#act-formula")
    sync_api.expect(formula).to_contain_text("x = 0.0: f = 0.5000, f' = 0.2500")          # sigmoid's largest slope, at 0
    sync_api.expect(page.locator("#act-note")).to_have_text("largest slope: 0.25 · after 10 layers at most 0.25^10 = 9.54e-7")
    page.locator("#act-x").fill("2")
    s = 1 / (1 + math.exp(-2))
    sync_api.expect(formula).to_contain_text(f"x = 2.0: f = {s:.4f}, f' = {s * (1 - s):.4f}")
    page.locator("#act-kind").select_option("relu")
    sync_api.expect(formula).to_contain_text("x = 2.0: f = 2.0000, f' = 1.0000")
    page.locator("#act-x").fill("-1.5")
    sync_api.expect(formula).to_contain_text("x = -1.5: f = 0.0000, f' = 0.0000")


def test_the_learning_rate_slider_converges_zigzags_or_diverges(page, site):
    page.goto(site + "/explain")
    note, formula = page.locator("#lr-note"), page.locator("#lr-formula")
    page.locator("#lr-w0").fill("-2")
    page.locator("#lr-rate").fill("0.1")
    w10 = 3 + (-2 - 3) * 0.8 ** 10                                                         # the distance shrinks by 1 - 2·lr
    sync_api.expect(formula).to_contain_text(f"w₁₀ = {w10:.3f} · L(w₁₀) = {(w10 - 3) ** 2:.4f}")
    sync_api.expect(note).to_contain_text("|1 − 2·lr| = 0.80: each step moves part of the way")
    page.locator("#lr-rate").fill("0.5")
    sync_api.expect(formula).to_contain_text("w₁ = 3.000")
    sync_api.expect(note).to_contain_text("in one step")
    page.locator("#lr-rate").fill("0.8")
    sync_api.expect(note).to_contain_text("|1 − 2·lr| = 0.60: each step jumps past the minimum")
    page.locator("#lr-rate").fill("1.1")
    w10 = 3 + (-2 - 3) * (-1.2) ** 10
    sync_api.expect(formula).to_contain_text(f"w₁₀ = {w10:.3f}")
    sync_api.expect(note).to_contain_text("it diverges")
    page.goto(site + "/explain?lang=ko")
    sync_api.expect(page.locator("#lr-title")).to_have_text("1차원 손실에서의 학습률")


def test_a_vae_run_draws_samples_and_redraws_an_upload(page, site, runs_root, tmp_path):
    from layerlab.labs import run_lab
    from tests.helpers.tiny_runs import TINY_RUNS

    options = {**TINY_RUNS["vae"](tmp_path), "quick": True, "progress": False}
    run = run_lab("vae", options, out=runs_root["root"])["run_dir"]
    page.goto(f"{site}/try?id={run_id(runs_root['root'], Path(run))}")
    sync_api.expect(page.locator("#sampler")).to_be_visible()
    page.locator("#sample-count").fill("3")
    page.locator("#sample-button").click()
    sync_api.expect(page.locator("#other section.other-result")).to_have_count(3)       # one per sample
    assert page.locator("#other img").first.evaluate("i => i.naturalWidth") == 28
    (tmp_path / "three.png").write_bytes(png_bytes(3))
    page.set_input_files("#image", str(tmp_path / "three.png"))
    sync_api.expect(page.locator("#other figcaption")).to_have_text(["reconstruction"])
    sync_api.expect(page.locator("#other .fact-bce")).to_contain_text("bce: ")
    assert page.locator("#result").is_hidden()
