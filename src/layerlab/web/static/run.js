// A run page: results, curves and the per-epoch table (live while the run trains), figures,
// the model's per-layer summary, the configuration and report.md.
"use strict";

const RUN_ID = new URLSearchParams(location.search).get("id") || "";
const enc = encodeURIComponent;

function section(id, title, ...content) {
  document.getElementById("sections").append(el("a", {href: `#${id}`}, title));
  return el("section", {id}, el("h2", {}, title), ...content);
}

// One chart per quantity (loss, accuracy, ...), one line per split (train, val, test).
function curves(rows) {
  const box = el("div", {class: "charts", id: "charts"});
  if (!rows.length) { box.append(el("p", {class: "empty"}, t("no_metrics"))); return box; }
  const quantities = new Map();
  rows.forEach((row, k) => {
    for (const [key, value] of Object.entries(row)) {
      if (typeof value !== "number" || ["epoch", "seconds", "step"].includes(key)) continue;
      const match = key.match(/^(train|val|test)_(.+)$/);
      const [split, quantity] = match ? [match[1], match[2]] : ["", key];
      if (!quantities.has(quantity)) quantities.set(quantity, new Map());
      const lines = quantities.get(quantity);
      if (!lines.has(split || quantity)) lines.set(split || quantity, []);
      lines.get(split || quantity).push([row.epoch ?? k + 1, value]);
    }
  });
  for (const [quantity, lines] of quantities) {
    box.append(lineChart(quantity, [...lines].map(([name, points]) => ({name, points})), t("epoch")));
  }
  return box;
}

function epochTable(rows) {
  const table = el("table", {class: "numbers", id: "epochs"});
  if (!rows.length) return table;
  const keys = [...new Set(rows.flatMap(Object.keys))];
  table.append(el("tr", {}, keys.map(k => el("th", {}, k))));
  for (const row of rows) table.append(el("tr", {}, keys.map(k => el("td", {}, formatNumber(row[k])))));
  return table;
}

function keyValues(object, id) {
  return el("table", {class: "numbers", id}, Object.entries(object || {}).map(([k, v]) =>
    el("tr", {}, el("th", {}, k), el("td", {}, typeof v === "object" ? JSON.stringify(v) : formatNumber(v)))));
}

function figureUrl(name) { return `/api/runs/${enc(RUN_ID)}/figures/${name.split("/").map(enc).join("/")}`; }

function modelSection(info) {
  const box = el("div", {});
  box.append(el("p", {}, `${info.model} · ${info.task} · input ${JSON.stringify(info.input_shape)}`));
  if (info.can_try) box.append(el("p", {}, el("a", {href: href("/try", {id: RUN_ID}), class: "button", id: "try-link"}, t("try_it"))));
  if (!info.summary) return box;
  const table = el("table", {class: "numbers", id: "summary"},
    el("tr", {}, [t("layer"), t("type"), t("output_shape"), t("parameters"), t("formula")].map(h => el("th", {}, h))));
  for (const row of info.summary.layers) {
    table.append(el("tr", {}, el("td", {}, row.name), el("td", {}, row.type), el("td", {}, `(${row.output_shape.join(", ")})`),
      el("td", {class: "num"}, formatNumber(row.params)), el("td", {}, row.formula)));
  }
  box.append(table, el("p", {}, `${t("total_params")}: ${formatNumber(info.summary.total_params)} · ` +
    `${t("macs")}: ${formatNumber(info.summary.total_macs)}`));
  return box;
}

async function showRun() {
  header("runs");
  let run;
  try { run = await api(`/api/runs/${enc(RUN_ID)}`); } catch (error) { showError(error.message); return; }
  document.title = `layerlab · ${run.lab}`;
  document.getElementById("title").textContent = run.title;
  document.getElementById("subtitle").append(el("span", {class: `status ${run.status}`, id: "status"}, run.status),
    ` ${run.lab} · ${run.id} · ${t("started")} ${(run.started || "").replace("T", " ")}` +
    (run.seconds ? ` · ${run.seconds} s` : ""), run.error ? el("div", {class: "error"}, run.error) : "");
  const page = document.getElementById("run");
  const modelBox = el("div", {id: "model"}, t("loading"));
  page.append(
    section("results", t("results"), keyValues(run.result, "result")),
    section("curves", t("curves"), run.status === "running" ? el("p", {class: "sub"}, t("live")) : "", curves(run.metrics)),
    section("epochs-section", t("epochs_table"), epochTable(run.metrics)),
    section("figures", t("figures"), el("div", {class: "gallery"}, run.figures.map(name =>
      el("figure", {}, el("img", {src: figureUrl(name), alt: name}), el("figcaption", {}, name))))),
    section("model-section", t("model"), modelBox, run.summary_text ? el("details", {}, el("summary", {}, "summary.txt"), el("pre", {}, run.summary_text)) : ""),
    section("config", t("config"), keyValues(run.config, "config-table")),
    section("report", t("report"), el("div", {class: "report"}, run.report ? renderMarkdown(run.report,
      url => url.startsWith("figures/") ? figureUrl(url.slice(8)) : null) : "–")));
  api(`/api/runs/${enc(RUN_ID)}/model`).then(info => modelBox.replaceChildren(modelSection(info)))
    .catch(error => modelBox.replaceChildren(el("p", {class: "sub"}, error.message)));
  if (run.status === "running") timer = setInterval(refresh, 3000);
}

let timer = null;

async function refresh() {
  const live = await api(`/api/runs/${enc(RUN_ID)}/metrics`).catch(() => null);
  if (!live) return;
  document.getElementById("charts").replaceWith(curves(live.metrics));
  document.getElementById("epochs").replaceWith(epochTable(live.metrics));
  document.getElementById("status").textContent = live.status;
  if (live.status !== "running") clearInterval(timer);
}

document.addEventListener("DOMContentLoaded", showRun);
