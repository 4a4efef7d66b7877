// Explain: the course's formulas, computed in the browser as you move a slider or type a number.
"use strict";

const value = id => Number(document.getElementById(id).value);

// (N − F + 2P)/S + 1, as the course writes it and as PyTorch computes it (floor).
function convSize() {
  const [n, f, p, s] = ["n", "f", "p", "s"].map(value);
  for (const id of ["n", "f", "p", "s"]) document.getElementById(`${id}-value`).textContent = value(id);
  const exact = (n - f + 2 * p) / s + 1;
  const out = Math.floor((n - f + 2 * p) / s) + 1;
  const shown = Number.isInteger(exact) ? String(exact) : exact.toFixed(2);
  document.getElementById("formula").textContent =
    `(N − F + 2P)/S + 1 = (${n} − ${f} + 2·${p})/${s} + 1 = ${shown}` + (n + 2 * p >= f ? `  →  ${out}×${out}` : "");
  const note = document.getElementById("conv-note");
  if (n + 2 * p < f) note.textContent = t("too_small");
  else if (!Number.isInteger(exact)) note.textContent = `${shown} ${t("not_whole")} ${out}×${out}.`;
  else note.textContent = s === 1 && f % 2 === 1 ? t("same_size") : "";
  drawGrid(n, f, p, s, n + 2 * p >= f ? out : 0);
}

// The padded input (padding grey), the first window (blue), and the output grid under it.
function drawGrid(n, f, p, s, out) {
  const canvas = document.getElementById("grid");
  const size = n + 2 * p, cell = Math.max(4, Math.floor(260 / Math.max(size, 1)));
  const top = size * cell + 16, small = Math.max(4, Math.floor(cell * 0.8));
  canvas.width = Math.max(size * cell, out * small) + 4;
  canvas.height = top + out * small + 4;          // setting the size also clears the canvas
  const g = canvas.getContext("2d");
  g.fillStyle = "#8a94a3";                         // shows between the cells: the grid lines
  g.fillRect(0, 0, size * cell - 1, size * cell - 1);
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      const pad = r < p || c < p || r >= p + n || c >= p + n;
      g.fillStyle = pad ? "#d0d4da" : "#ffffff";
      g.fillRect(c * cell, r * cell, cell - 1, cell - 1);
    }
  }
  g.strokeStyle = "#2563eb";
  g.lineWidth = 3;
  if (f <= size) g.strokeRect(1, 1, f * cell - 2, f * cell - 2);
  for (let r = 0; r < out; r++) {
    for (let c = 0; c < out; c++) {
      g.fillStyle = r === 0 && c === 0 ? "#93b4f5" : "#e8eefc";
      g.fillRect(c * small, top + r * small, small - 1, small - 1);
    }
  }
}

// Softmax of editable logits, with a temperature; computed stably (subtract the largest logit).
const logits = [2.0, 1.0, 0.1];

function softmax(zs, temperature) {
  const scaled = zs.map(z => z / temperature);
  const top = Math.max(...scaled);
  const exps = scaled.map(z => Math.exp(z - top));
  const total = exps.reduce((a, b) => a + b, 0);
  return {exps, total, probs: exps.map(e => e / total)};
}

// One row per class: its logit as an input (kept while you type), e^z, p and a bar.
function softmaxTable() {
  const table = document.getElementById("logits");
  table.replaceChildren(el("tr", {}, [t("class"), t("logit"), "e^(z/T − max)", t("probability"), ""].map(h => el("th", {}, h))));
  logits.forEach((z, i) => {
    const input = el("input", {type: "number", step: "0.1", value: z, class: "logit", "data-index": i});
    input.addEventListener("input", () => {
      if (input.value.trim() === "" || !Number.isFinite(Number(input.value))) return;
      logits[i] = Number(input.value);
      updateSoftmax();
    });
    table.append(el("tr", {class: "class-row"}, el("td", {}, i), el("td", {}, input), el("td", {class: "num exp"}),
      el("td", {class: "num prob"}), el("td", {class: "track wide"}, el("div", {class: "fill"}))));
  });
  updateSoftmax();
}

function updateSoftmax() {
  const temperature = value("temperature");
  document.getElementById("t-value").textContent = temperature.toFixed(1);
  const {exps, total, probs} = softmax(logits, temperature);
  const best = probs.indexOf(Math.max(...probs));
  document.querySelectorAll("#logits tr.class-row").forEach((row, i) => {
    row.classList.toggle("best", i === best);
    row.querySelector(".exp").textContent = exps[i].toFixed(4);
    row.querySelector(".prob").textContent = probs[i].toFixed(4);
    row.querySelector(".fill").style.width = `${(100 * probs[i]).toFixed(1)}%`;
  });
  document.getElementById("softmax-sum").textContent =
    `${t("sum")} e = ${total.toFixed(4)} · ${t("sum")} p = ${probs.reduce((a, b) => a + b, 0).toFixed(4)} · ${t("argmax")} ${best}`;
}

// 2x2 pooling with stride 2 on an editable 4x4 input: each output is the max (or mean) of its window.
const poolInput = [[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]];   // the course's example
const short = v => String(Math.round(v * 1000) / 1000);                          // 5.25, 2, 0.333

function poolTables() {
  const input = document.getElementById("pool-input");
  input.replaceChildren(...poolInput.map((row, r) => el("tr", {}, row.map((v, c) => {
    const cell = el("input", {type: "number", value: v, class: `pool-cell w${(r >> 1) * 2 + (c >> 1)}`, "data-r": r, "data-c": c});
    cell.addEventListener("input", () => {
      if (cell.value.trim() === "" || !Number.isFinite(Number(cell.value))) return;
      poolInput[r][c] = Number(cell.value);
      updatePool();
    });
    return el("td", {}, cell);
  }))));
  updatePool();
}

function updatePool() {
  const kind = document.getElementById("pool-kind").value;
  const windows = [[0, 0], [0, 2], [2, 0], [2, 2]].map(([r, c]) =>
    [poolInput[r][c], poolInput[r][c + 1], poolInput[r + 1][c], poolInput[r + 1][c + 1]]);
  const pooled = windows.map(w => kind === "max" ? Math.max(...w) : w.reduce((a, b) => a + b, 0) / 4);
  document.getElementById("pool-output").replaceChildren(
    ...[0, 2].map(r => el("tr", {}, [0, 1].map(c => el("td", {class: `w${r + c}`}, short(pooled[r + c]))))));
  document.querySelectorAll("#pool-input input").forEach(cell => {
    const w = ((cell.dataset.r >> 1) * 2) + (cell.dataset.c >> 1);
    cell.classList.toggle("winner", kind === "max" && Number(cell.value) === pooled[w]);
  });
  const name = kind === "max" ? "max" : "mean";
  document.getElementById("pool-formula").textContent =
    `${name}(${windows[0].join(", ")}) = ${short(pooled[0])} · 4×4 → (4 − 2)/2 + 1 = 2 → 2×2`;
}

// Activations: f(x) and f'(x) at the slider's x, both drawn over [-6, 6]; the sigmoid's slope is at most 0.25.
const ACTIVATIONS = {
  sigmoid: {f: x => 1 / (1 + Math.exp(-x)), d: x => { const s = 1 / (1 + Math.exp(-x)); return s * (1 - s); },
            text: "σ(x) = 1/(1 + e^(−x)),  σ'(x) = σ(x)(1 − σ(x))", most: 0.25},
  tanh: {f: Math.tanh, d: x => 1 - Math.tanh(x) ** 2, text: "tanh(x),  tanh'(x) = 1 − tanh²(x)", most: 1},
  relu: {f: x => Math.max(0, x), d: x => (x > 0 ? 1 : 0), text: "ReLU(x) = max(0, x),  ReLU'(x) = 1 if x > 0 else 0", most: 1},
  leaky: {f: x => (x > 0 ? x : 0.01 * x), d: x => (x > 0 ? 1 : 0.01), text: "max(0.01x, x),  slope 1 or 0.01", most: 1},
};
const fixed = v => (Math.abs(v) < 5e-5 ? 0 : v).toFixed(4);

function updateActivation() {
  const kind = document.getElementById("act-kind").value, x = value("act-x"), act = ACTIVATIONS[kind];
  document.getElementById("x-value").textContent = x.toFixed(1);
  document.getElementById("act-formula").textContent = `${act.text}  ·  x = ${x.toFixed(1)}: f = ${fixed(act.f(x))}, f' = ${fixed(act.d(x))}`;
  const ten = act.most ** 10;
  document.getElementById("act-note").textContent = `${t("act_most")} ${act.most} · ${t("act_ten")} ${act.most}^10 = ${ten < 1e-3 ? ten.toExponential(2) : ten}`;
  plot("act-plot", [-6, 6], kind === "relu" || kind === "leaky" ? [-1, 6] : [-1.1, 1.1],
       [{fn: act.f, colour: "#2563eb"}, {fn: act.d, colour: "#dc2626"}], [[x, act.f(x)], [x, act.d(x)]]);
}

// A curve plot on a canvas: `curves` are functions of x, `points` dots; axes through 0.
function plot(id, [x0, x1], [y0, y1], curves, points = [], path = []) {
  const canvas = document.getElementById(id), g = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
  const X = x => ((x - x0) / (x1 - x0)) * (W - 20) + 10, Y = y => H - 10 - ((y - y0) / (y1 - y0)) * (H - 20);
  g.clearRect(0, 0, W, H);
  g.strokeStyle = "#c4c9d0"; g.lineWidth = 1;
  g.beginPath(); g.moveTo(X(x0), Y(0)); g.lineTo(X(x1), Y(0)); g.moveTo(X(0), Y(y0)); g.lineTo(X(0), Y(y1)); g.stroke();
  for (const {fn, colour} of curves) {
    g.strokeStyle = colour; g.lineWidth = 2; g.beginPath();
    for (let i = 0; i <= 200; i++) { const x = x0 + ((x1 - x0) * i) / 200; const y = Math.max(y0, Math.min(y1, fn(x))); i ? g.lineTo(X(x), Y(y)) : g.moveTo(X(x), Y(y)); }
    g.stroke();
  }
  g.strokeStyle = "#16a34a"; g.lineWidth = 1.5; g.beginPath();
  path.forEach(([x, y], i) => { const px = X(Math.max(x0, Math.min(x1, x))), py = Y(Math.max(y0, Math.min(y1, y))); i ? g.lineTo(px, py) : g.moveTo(px, py); });
  g.stroke();
  g.fillStyle = "#111827";
  for (const [x, y] of [...points, ...path]) { g.beginPath(); g.arc(X(Math.max(x0, Math.min(x1, x))), Y(Math.max(y0, Math.min(y1, y))), 3, 0, 7); g.fill(); }
}

// Gradient descent on the 1-D loss L(w) = (w − 3)²: w ← w − lr·2(w − 3), 10 steps from w0.
// The distance to the minimum is multiplied by (1 − 2·lr) each step: it shrinks for 0 < lr < 1, and
// lr = 0.5 lands on the minimum in one step; above 1 every step overshoots further.
function updateLr() {
  const lr = value("lr-rate"), w0 = value("lr-w0");
  document.getElementById("lr-value").textContent = lr.toFixed(2);
  document.getElementById("w0-value").textContent = w0.toFixed(1);
  const ws = [w0];
  for (let k = 0; k < 10; k++) ws.push(ws[k] - lr * 2 * (ws[k] - 3));
  const loss = w => (w - 3) ** 2, last = ws[ws.length - 1], factor = 1 - 2 * lr;
  document.getElementById("lr-formula").textContent =
    `w ← w − ${lr.toFixed(2)}·2(w − 3) · w₀ = ${w0.toFixed(1)} → w₁ = ${ws[1].toFixed(3)} → … → w₁₀ = ${last.toFixed(3)} · L(w₁₀) = ${loss(last).toFixed(4)}`;
  const verdict = Math.abs(factor) > 1 ? "lr_diverges" : Math.abs(factor) < 1e-9 ? "lr_one_step"
    : factor < 0 ? "lr_zigzag" : "lr_converges";
  document.getElementById("lr-note").textContent = `|1 − 2·lr| = ${Math.abs(factor).toFixed(2)}: ${t(verdict)}`;
  plot("lr-plot", [-5, 11], [-2, 70], [{fn: loss, colour: "#2563eb"}], [], ws.map(w => [w, loss(w)]));
}

function showExplain() {
  header("explain");
  document.title = `layerlab · ${t("explain")}`;
  document.getElementById("title").textContent = t("explain");
  const captions = {"conv-title": "conv_title", "conv-intro": "conv_intro", "n-label": "input_size", "f-label": "kernel",
    "p-label": "padding", "s-label": "stride", "grid-note": "grid_note", "softmax-title": "softmax_title",
    "softmax-intro": "softmax_intro", "t-label": "temperature", "add": "add_logit", "remove": "remove_logit",
    "pool-title": "pool_title", "pool-intro": "pool_intro", "pool-kind-label": "pool_kind",
    "act-title": "act_title", "act-intro": "act_intro", "act-kind-label": "act_kind", "x-label": "act_x",
    "lr-title": "lr_title", "lr-intro": "lr_intro", "lr-label": "lr_rate", "w0-label": "lr_start"};
  for (const [id, key] of Object.entries(captions)) document.getElementById(id).textContent = t(key);
  for (const id of ["n", "f", "p", "s"]) document.getElementById(id).addEventListener("input", convSize);
  document.getElementById("temperature").addEventListener("input", updateSoftmax);
  document.getElementById("add").addEventListener("click", () => { logits.push(0); softmaxTable(); });
  document.getElementById("remove").addEventListener("click", () => { if (logits.length > 2) logits.pop(); softmaxTable(); });
  document.getElementById("pool-kind").addEventListener("change", updatePool);
  for (const id of ["act-kind", "act-x"]) document.getElementById(id).addEventListener("input", updateActivation);
  for (const id of ["lr-rate", "lr-w0"]) document.getElementById(id).addEventListener("input", updateLr);
  convSize();
  poolTables();
  updateActivation();
  updateLr();
  softmaxTable();
}

document.addEventListener("DOMContentLoaded", showExplain);
