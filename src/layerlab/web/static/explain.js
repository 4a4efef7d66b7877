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

function showExplain() {
  header("explain");
  document.title = `layerlab · ${t("explain")}`;
  document.getElementById("title").textContent = t("explain");
  const captions = {"conv-title": "conv_title", "conv-intro": "conv_intro", "n-label": "input_size", "f-label": "kernel",
    "p-label": "padding", "s-label": "stride", "grid-note": "grid_note", "softmax-title": "softmax_title",
    "softmax-intro": "softmax_intro", "t-label": "temperature", "add": "add_logit", "remove": "remove_logit",
    "pool-title": "pool_title", "pool-intro": "pool_intro", "pool-kind-label": "pool_kind"};
  for (const [id, key] of Object.entries(captions)) document.getElementById(id).textContent = t(key);
  for (const id of ["n", "f", "p", "s"]) document.getElementById(id).addEventListener("input", convSize);
  document.getElementById("temperature").addEventListener("input", updateSoftmax);
  document.getElementById("add").addEventListener("click", () => { logits.push(0); softmaxTable(); });
  document.getElementById("remove").addEventListener("click", () => { if (logits.length > 2) logits.pop(); softmaxTable(); });
  document.getElementById("pool-kind").addEventListener("change", updatePool);
  convSize();
  poolTables();
  softmaxTable();
}

document.addEventListener("DOMContentLoaded", showExplain);
