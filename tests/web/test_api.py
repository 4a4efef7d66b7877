"""The explorer's JSON API through Starlette's TestClient, on runs the tests trained (conftest.py)."""

from __future__ import annotations

import base64
import io
import json
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from layerlab.web import create_app
from tests.web.conftest import png_bytes, run_id


@pytest.fixture(scope="module")
def client(runs_root):
    with TestClient(create_app(runs_root["root"])) as client:
        yield client


@pytest.fixture(scope="module")
def ids(runs_root) -> dict[str, str]:
    return {name: run_id(runs_root["root"], runs_root[name]) for name in ("lenet", "mlp")}


def upload(client, run: str, data: bytes, name: str = "digit.png"):
    return client.post(f"/api/runs/{run}/predict", files={"image": (name, data, "image/png")})


def assert_refused(response, status: int, words: str) -> None:
    """A refusal is a JSON object with one line under "error", and the status asked for."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"] and "\n" not in body["error"] and "Traceback" not in body["error"]
    assert words in body["error"], body["error"]


def decode(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def test_the_runs_list_names_each_run_by_id_with_its_lab_status_and_metric_and_no_path(client, runs_root, ids):
    rows = client.get("/api/runs").json()["runs"]
    assert [row["id"] for row in rows] == [ids["mlp"], ids["lenet"]]          # newest first
    lenet = rows[1]
    assert (lenet["lab"], lenet["status"], lenet["metric"], lenet["higher_is_better"]) == \
        ("lenet-mnist", "finished", "test_accuracy", True)
    assert lenet["value"] == runs_root["lenet_accuracy"] == 1.0
    assert str(runs_root["root"]) not in json.dumps(rows)                     # the page is never told a path


def test_a_run_page_holds_config_epochs_figures_report_and_figures_are_served(client, ids):
    run = client.get(f"/api/runs/{ids['lenet']}").json()
    assert run["config"]["epochs"] == 2 and run["config"]["batch_size"] == 32
    assert [row["epoch"] for row in run["metrics"]] == [1, 2]
    assert {"train_loss", "val_loss", "val_accuracy"} <= set(run["metrics"][0])
    assert {"curves.png", "filters.png", "feature_maps.png", "confusion_matrix.png"} <= set(run["figures"])
    assert run["report"].startswith("# LeNet-5 on MNIST") and "61,706" in run["summary_text"]
    assert run["result"]["test_accuracy"] == 1.0
    png = client.get(f"/api/runs/{ids['lenet']}/figures/curves.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"


@pytest.mark.parametrize("url", [
    "/api/runs/..~..~etc", "/api/runs/%2e%2e", "/api/runs/lenet-mnist", "/api/runs/~etc~passwd/model",
    "/api/runs/{lenet}/figures/../config.json", "/api/runs/{lenet}/figures/..%2Fconfig.json",
    "/api/runs/{lenet}/figures/%2Fetc%2Fpasswd", "/api/runs/{lenet}/figures/nothing.png",
])
def test_ids_and_figure_names_are_looked_up_never_joined_to_a_path(client, ids, url):
    response = client.get(url.format(lenet=ids["lenet"]))
    assert response.status_code == 404 and "error" in response.json()
    assert b"{" in response.content and b"root:" not in response.content


def test_the_model_summary_gives_each_layer_its_output_shape_and_parameter_formula(client, ids):
    info = client.get(f"/api/runs/{ids['lenet']}/model").json()
    assert (info["model"], info["task"], info["input_shape"], info["can_try"]) == ("lenet5", "classification", [1, 28, 28], True)
    assert info["summary"]["total_params"] == 61_706
    conv1 = info["summary"]["layers"][0]
    assert (conv1["name"], conv1["output_shape"], conv1["params"]) == ("features.0", [6, 28, 28], 156)
    assert conv1["formula"] == "5·5·1·6 + 6 = 156"          # F·F·C_in·C_out + biases
    mlp = client.get(f"/api/runs/{ids['mlp']}/model").json()
    assert mlp["summary"]["total_params"] == 64 * 64 + 64 + 64 * 10 + 10 == 4_810


def test_an_upload_is_classified_with_softmax_bars_and_every_conv_layers_maps(client, ids):
    result = upload(client, ids["lenet"], png_bytes(7)).json()
    assert result["class"] == "7" and result["bars"][0]["class"] == "7"
    probabilities = [bar["probability"] for bar in result["bars"]]
    assert len(probabilities) == 10 and sum(probabilities) == pytest.approx(1, abs=1e-3)
    assert probabilities == sorted(probabilities, reverse=True)
    layers = [(m["layer"], m["shape"], m["shown"], len(m["maps"])) for m in result["feature_maps"]]
    assert layers == [("features.0", [6, 28, 28], 6, 6), ("features.3", [16, 10, 10], 16, 16)]
    assert decode(result["feature_maps"][0]["maps"][0]).shape == (28, 28)
    assert decode(result["input"]["png"]).shape == (28, 28) and result["uploaded_size"] == [28, 28]


def test_a_model_without_conv_layers_predicts_and_has_no_maps_and_a_wrong_size_is_converted(client, ids):
    result = upload(client, ids["mlp"], png_bytes(3)).json()     # 28x28 for a model of 8x8 digits
    assert result["feature_maps"] == [] and len(result["bars"]) == 10
    assert "resized 28x28 to 8x8" in result["notes"]


def test_twenty_concurrent_predictions_are_all_right_and_the_model_is_loaded_once(runs_root, ids):
    app = create_app(runs_root["root"])
    with TestClient(app) as client:
        alone = {k: upload(client, ids["lenet"], png_bytes(k, seed=k)).json() for k in range(10)}
        # a pause inside the forward (sleep lets the other threads run) makes requests overlap there
        model = app.state.models.get(ids["lenet"]).model
        model.features[0].register_forward_hook(lambda *_: time.sleep(0.02))
        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(lambda k: upload(client, ids["lenet"], png_bytes(k % 10, seed=k % 10)), range(20)))
    assert all(r.status_code == 200 for r in results)
    assert [r.json()["class"] for r in results] == [str(k % 10) for k in range(20)]
    # each answer's feature maps are its own image's (hooks on a shared model would mix them without the lock)
    assert all(r.json()["feature_maps"] == alone[k % 10]["feature_maps"] for k, r in enumerate(results))
    assert app.state.models.loads == 1


def bomb_png(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose header declares width x height 8-bit grey pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b"")


def test_bad_uploads_are_refused_in_one_json_line(client, ids):
    run = ids["lenet"]
    assert_refused(upload(client, run, b"just some text\n", "notes.txt"), 415, "not an image")
    assert_refused(upload(client, run, bomb_png(30_000, 30_000)), 413, "decompression bomb")
    assert_refused(upload(client, run, bomb_png(10_000, 10_000)), 413, "100,000,000 pixels, over the limit of 40,000,000")
    assert_refused(upload(client, run, png_bytes(1)[:60]), 400, "not a readable image (image file is truncated)")
    assert_refused(upload(client, run, b""), 400, "empty")
    assert_refused(client.post(f"/api/runs/{run}/predict", files={"photo": ("a.png", png_bytes(1))}), 400, "field 'image'")
    assert_refused(client.post(f"/api/runs/{run}/predict", content=png_bytes(1)), 400, "multipart/form-data")
    assert_refused(upload(client, "no~such", png_bytes(1)), 404, "unknown run id")


def test_byte_and_pixel_limits_hold_whatever_the_request_claims(runs_root, ids):
    with TestClient(create_app(runs_root["root"], max_bytes=2_000, max_pixels=500)) as client:
        big = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)   # noise: ~4 kB as PNG
        buffer = io.BytesIO()
        Image.fromarray(big).save(buffer, format="PNG")
        assert_refused(upload(client, ids["lenet"], buffer.getvalue()), 413, "limit of 2,000 bytes")
        body = (b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n\r\n"
                + buffer.getvalue() + b"\r\n--b--\r\n")
        chunked = client.post(f"/api/runs/{ids['lenet']}/predict", content=iter([body[:1000], body[1000:]]),
                              headers={"content-type": "multipart/form-data; boundary=b"})   # no Content-Length
        assert_refused(chunked, 413, "limit of 2,000 bytes")
        assert_refused(upload(client, ids["lenet"], png_bytes(1)), 413, "784 pixels, over the limit of 500")


def test_a_run_without_a_classifier_cannot_be_tried_and_says_why(client, runs_root):
    folder = runs_root["root"] / "cubic-sin" / "20250101-000000"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"lab": "cubic-sin", "status": "running"}))
    (folder / "metrics.jsonl").write_text('{"epoch": 1, "loss": 2.5}\n{"epoch": 2, "lo')   # the second line being written
    assert client.get("/api/runs/cubic-sin~20250101-000000/metrics").json() == \
        {"status": "running", "metrics": [{"epoch": 1, "loss": 2.5}]}
    assert_refused(upload(client, "cubic-sin~20250101-000000", png_bytes(1)), 409, "no saved model")
    assert_refused(client.get("/api/runs/cubic-sin~20250101-000000/model"), 409, "no saved model")


def test_a_bug_is_a_json_500_without_its_traceback(runs_root, ids, monkeypatch):
    app = create_app(runs_root["root"])
    monkeypatch.setattr(app.state.models, "info", lambda run_id: 1 / 0)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(f"/api/runs/{ids['lenet']}/model")
    assert response.status_code == 500
    assert response.json() == {"error": "internal error (ZeroDivisionError); the traceback is in the server's terminal"}


def test_other_host_names_are_refused_when_serving_this_machine_only(runs_root):
    app = create_app(runs_root["root"], allowed_hosts=("127.0.0.1", "localhost"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/api/runs").status_code == 200
    with TestClient(app, base_url="http://rebound.example:8000") as client:
        assert_refused(client.get("/api/runs"), 400, "not for the host 'rebound.example'")


def test_pages_are_static_files_with_a_strict_content_policy(client):
    for path, script in [("/", "runs.js"), ("/run?id=x", "run.js"), ("/try?id=x", "try.js"), ("/compare?ids=x,y", "compare.js"),
                         ("/explain", "explain.js")]:
        page = client.get(path)
        assert page.status_code == 200 and f'src="/static/{script}"' in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert "http://" not in page.text and "https://" not in page.text          # nothing from the internet
    assert client.get("/static/common.js").status_code == 200
    assert_refused(client.get("/static/../app.py"), 404, "")


def test_korean_captions_get_a_font_the_browser_accepts(client):
    font = client.get("/fonts/korean.ttf")
    assert font.status_code == 200 and font.headers["content-type"] == "font/ttf"
    from fontTools.ttLib import TTFont

    tables = set(TTFont(io.BytesIO(font.content)).keys())
    assert "glyf" in tables and not any(tag.startswith("TSI") for tag in tables)   # Chromium refuses empty TSI3
    assert ord("한") in TTFont(io.BytesIO(font.content)).getBestCmap()


def test_a_feature_map_number_is_explained_by_its_dot_product_and_its_receptive_field(client, ids):
    run = ids["lenet"]
    maps = upload(client, run, png_bytes(7)).json()["feature_maps"]
    conv1, conv2 = maps[0]["layer"], maps[1]["layer"]
    url = f"/api/runs/{run}/pixel?layer={conv1}&channel=2&y=10&x=12"
    one = client.post(url, files={"image": ("digit.png", png_bytes(7), "image/png")}).json()
    assert one["recomputed"] == pytest.approx(one["value"], abs=1e-4)       # bias + the 25 products = PyTorch's number
    assert one["kernel"] == [5, 5] and len(one["terms"]["weights"]) == 5 and one["in_channels"] == 1
    # LeNet's conv1: 5x5, padding 2 on 28x28: output (10, 12) reads input rows 8..12 and columns 10..14
    assert one["region"] == {"top": 8, "bottom": 12, "left": 10, "right": 14, "pixels": 25}
    two = client.post(f"/api/runs/{run}/pixel?layer={conv2}&channel=0&y=3&x=4",
                      files={"image": ("digit.png", png_bytes(7), "image/png")}).json()
    assert two["in_channels"] == 6 and len(two["per_channel"]) == 6
    assert two["recomputed"] == pytest.approx(two["value"], abs=1e-4)
    box = two["region"]   # conv2 sees 5x5 of pool1, i.e. at most 14x14 input pixels, ReLUs and max-pools may take some away
    assert box is None or (box["bottom"] - box["top"] < 14 and box["right"] - box["left"] < 14)
    refused = client.post(f"/api/runs/{run}/pixel?layer={conv1}&channel=99&y=0&x=0",
                          files={"image": ("digit.png", png_bytes(7), "image/png")})
    assert refused.status_code == 400 and "channel 99, row 0, column 0 is outside it" in refused.json()["error"]
    assert client.post(f"/api/runs/{run}/pixel?layer={conv1}&channel=0&y=0",
                       files={"image": ("digit.png", png_bytes(7), "image/png")}).status_code == 422
