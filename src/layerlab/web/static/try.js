// Try it: upload an image to a run's classifier; show the prediction, the softmax bars and the
// feature maps of every conv layer. The image goes to the server as the form field `image`.
"use strict";

const TRY_ID = new URLSearchParams(location.search).get("id") || "";

function bars(rows, box) {
  box.replaceChildren(...rows.map(row => {
    const fill = el("div", {class: "fill"});
    fill.style.width = `${(100 * row.probability).toFixed(1)}%`;
    return el("div", {class: "bar"}, el("span", {class: "label"}, row.class), el("div", {class: "track"}, fill),
      el("span", {class: "value"}, row.probability.toFixed(4)));
  }));
}

function featureMaps(layers) {
  if (!layers.length) return [el("p", {class: "sub"}, t("no_convs"))];
  return layers.map(layer => {
    const [c, h, w] = layer.shape;
    return el("section", {class: "layer", "data-layer": layer.layer},
      el("h3", {}, `${layer.layer}: ${c}@${h}×${w}`, el("span", {class: "sub"},
        ` (${t("showing")} ${layer.shown} ${t("of")} ${c} ${t("channels")})`)),
      el("div", {class: "maps"}, layer.maps.map((src, k) => el("img", {src, class: "pixelated map", title: `${layer.layer}[${k}]`,
        alt: `${layer.layer}[${k}]`, "data-channel": k, "data-h": h, "data-w": w,
        onclick: event => explainPixel(layer.layer, k, event)}))));
  });
}

// A click on a feature map: the number under the pointer, the dot product that made it, and the
// input pixels it saw (drawn as a box on the input as the model sees it).
let lastFile = null, lastInput = null;

async function explainPixel(layer, channel, event) {
  const img = event.currentTarget, h = Number(img.dataset.h), w = Number(img.dataset.w);
  const y = Math.min(h - 1, Math.floor((event.offsetY / img.clientHeight) * h));
  const x = Math.min(w - 1, Math.floor((event.offsetX / img.clientWidth) * w));
  const form = new FormData();
  form.append("image", lastFile);
  const query = new URLSearchParams({layer, channel, y, x});
  let r;
  try {
    r = await api(`/api/runs/${encodeURIComponent(TRY_ID)}/pixel?${query}`, {method: "POST", body: form});
  } catch (error) { showError(error.message); return; }
  showError("");
  const n = v => v.toFixed(4);
  const [kh, kw] = r.kernel;
  const box = document.getElementById("pixel");
  const lines = [
    el("h3", {id: "pixel-title"}, `${r.layer}[${r.channel}] ${t("row")} ${r.y}, ${t("column")} ${r.x} = ${n(r.value)}`),
    el("p", {class: "formula", id: "pixel-formula"},
      `= b + Σ ${r.in_channels} ${t("in_channels")} × ${kh}×${kw} (w · x) = ${n(r.bias)} + ${n(r.sum)} = ${n(r.recomputed)}`),
    el("p", {class: "sub"}, `${t("per_channel")}: ` + r.per_channel.map(c => `${c.channel}: ${n(c.contribution)}`).join(" · ")),
  ];
  if (r.terms.weights) {
    const rows = r.terms.weights.map((row, i) => el("tr", {}, row.map((wv, j) =>
      el("td", {}, `${wv.toFixed(3)}×${r.terms.inputs[i][j].toFixed(3)}`))));
    lines.push(el("p", {class: "sub"}, `${t("terms_of")} ${r.terms.channel}: Σ = ${n(r.terms.sum)}`),
               el("table", {class: "grid terms", id: "pixel-terms"}, rows));
  }
  const canvas = el("canvas", {id: "pixel-field", width: 224, height: 224});
  lines.push(el("p", {class: "sub", id: "pixel-region"}, r.region
    ? `${t("field")}: ${t("rows")} ${r.region.top}–${r.region.bottom}, ${t("columns")} ${r.region.left}–${r.region.right} (${r.region.pixels} ${t("pixels")})`
    : t("no_field")), canvas);
  box.replaceChildren(...lines);
  box.hidden = false;
  const picture = new Image();
  picture.onload = () => {
    const g = canvas.getContext("2d"), [H, W] = r.input_size, sy = canvas.height / H, sx = canvas.width / W;
    g.imageSmoothingEnabled = false;
    g.drawImage(picture, 0, 0, canvas.width, canvas.height);
    if (r.region) {
      g.strokeStyle = "#f59e0b"; g.lineWidth = 2;
      g.strokeRect(r.region.left * sx, r.region.top * sy, (r.region.right - r.region.left + 1) * sx, (r.region.bottom - r.region.top + 1) * sy);
    }
  };
  picture.src = lastInput;
}

async function predict(file) {
  showError("");
  const form = new FormData();
  form.append("image", file);
  document.getElementById("prediction").textContent = t("loading");
  let result;
  try {
    result = await api(`/api/runs/${encodeURIComponent(TRY_ID)}/predict`, {method: "POST", body: form});
  } catch (error) {
    document.getElementById("result").hidden = true;
    showError(error.message);
    return;
  }
  if (result.task !== "classification") { showResults(result); return; }
  document.getElementById("other").hidden = true;
  document.getElementById("result").hidden = false;
  document.getElementById("input").src = result.input.png;
  document.getElementById("notes").replaceChildren(...result.notes.map(n => el("li", {}, n)));
  document.getElementById("prediction").textContent = `${result.class} (${result.probability.toFixed(4)})`;
  bars(result.bars, document.getElementById("bars"));
  document.getElementById("maps").replaceChildren(...featureMaps(result.feature_maps));
  lastFile = file;
  lastInput = result.input.png;
  document.getElementById("pixel").hidden = true;
  document.getElementById("pixel-hint").textContent = result.feature_maps.length ? t("click_map") : "";
}

// A drawing pad for grey-scale models (MNIST-like): white strokes on black, sent as a PNG like an upload.
function drawingPad() {
  const pad = document.getElementById("pad");
  const g = pad.getContext("2d");
  const clear = () => { g.fillStyle = "#000"; g.fillRect(0, 0, pad.width, pad.height); };
  clear();
  g.strokeStyle = "#fff"; g.lineWidth = 16; g.lineCap = "round"; g.lineJoin = "round";
  let drawing = false;
  const at = event => { const box = pad.getBoundingClientRect(); return [event.clientX - box.left, event.clientY - box.top]; };
  pad.addEventListener("pointerdown", event => { drawing = true; g.beginPath(); g.moveTo(...at(event)); });
  pad.addEventListener("pointermove", event => { if (drawing) { g.lineTo(...at(event)); g.stroke(); } });
  for (const name of ["pointerup", "pointerleave"]) pad.addEventListener(name, () => { drawing = false; });
  document.getElementById("draw-clear").addEventListener("click", clear);
  document.getElementById("draw-predict").addEventListener("click", () =>
    pad.toBlob(blob => predict(new File([blob], "drawing.png", {type: "image/png"})), "image/png"));
  document.getElementById("draw").hidden = false;
}

// Any other task: what its `layerlab predict` predictor returned: pictures (mask, overlay,
// reconstruction, samples, boxes), texts and numbers, one block per result.
function showResults(result) {
  document.getElementById("result").hidden = true;
  const box = document.getElementById("other");
  box.replaceChildren(...result.results.map(item => {
    const pictures = [], facts = [];
    for (const [key, value] of Object.entries(item)) {
      if (typeof value === "string" && value.startsWith("data:image/png")) {
        pictures.push(el("figure", {}, el("img", {src: value, class: "pixelated big", alt: key}), el("figcaption", {}, key)));
      } else if (value && typeof value === "object" && !Array.isArray(value)) {
        facts.push(el("li", {}, `${key}: ` + Object.entries(value).map(([k, v]) => `${k} ${formatNumber(v)}`).join(", ")));
      } else if (Array.isArray(value)) {
        facts.push(el("li", {}, `${key}: ${value.map(v => (typeof v === "object" ? JSON.stringify(v) : v)).join("; ")}`));
      } else facts.push(el("li", {class: `fact-${key}`}, `${key}: ${formatNumber(value)}`));
    }
    return el("section", {class: "other-result"}, el("div", {class: "maps"}, pictures), el("ul", {}, facts));
  }));
  box.hidden = false;
}

async function otherTask(url, options) {
  showError("");
  try { showResults(await api(url, options)); } catch (error) { showError(error.message); }
}

function taskControls(model) {
  const run = encodeURIComponent(TRY_ID), ability = model.abilities || {};
  document.getElementById("upload").hidden = !ability.image;
  document.getElementById("intro").textContent = t(ability.image ? "try_other" : "try_text");
  if (ability.samples) {
    document.getElementById("sampler").hidden = false;
    document.getElementById("sample-button").addEventListener("click", () => otherTask(
      `/api/runs/${run}/samples?count=${value("sample-count")}&seed=${value("sample-seed")}`, {method: "POST"}));
  }
  if (ability.text) {
    document.getElementById("prompter").hidden = false;
    document.getElementById("prompt-button").addEventListener("click", () => otherTask(`/api/runs/${run}/text`, {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({prompt: document.getElementById("prompt").value, length: value("prompt-length")})}));
  }
}

const value = id => Number(document.getElementById(id).value);

async function showTry() {
  header("runs");
  for (const [id, key] of [["choose", "choose"], ["intro", "try_intro"], ["input-title", "input_seen"],
    ["prediction-title", "prediction"], ["softmax-title", "softmax"], ["maps-title", "feature_maps"],
    ["draw-intro", "draw_intro"], ["draw-predict", "draw_predict"], ["draw-clear", "draw_clear"],
    ["sample-button", "draw_samples"], ["sample-count-label", "how_many"], ["sample-seed-label", "seed"],
    ["prompt-button", "send_prompt"], ["prompt-length-label", "length"]]) {
    document.getElementById(id).textContent = t(key);
  }
  document.getElementById("title").textContent = t("try_it");
  document.getElementById("image").addEventListener("change", event => {
    if (event.target.files.length) predict(event.target.files[0]);
  });
  try {
    const run = await api(`/api/runs/${encodeURIComponent(TRY_ID)}`);
    const link = el("a", {href: href("/run", {id: TRY_ID})}, run.lab);
    document.getElementById("subtitle").append(link, ` · ${run.id} · ${run.title}`);
    const model = await api(`/api/runs/${encodeURIComponent(TRY_ID)}/model`);
    if (model.can_try && model.input_shape[0] === 1) drawingPad();
    if (model.task !== "classification") taskControls(model);
  } catch (error) { showError(error.message); }
}

document.addEventListener("DOMContentLoaded", showTry);
