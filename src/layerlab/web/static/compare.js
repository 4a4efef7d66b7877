// Compare runs: one chart per per-epoch quantity that the runs share (val_loss, val_accuracy, ...),
// one line per run. The runs come from the runs list's check boxes (?ids=a,b,...).
"use strict";

async function showCompare() {
  header("runs");
  document.getElementById("title").textContent = t("compare");
  const ids = (new URLSearchParams(location.search).get("ids") || "").split(",").filter(Boolean);
  let runs;
  try {
    runs = await Promise.all(ids.map(async id => ({id, ...(await api(`/api/runs/${encodeURIComponent(id)}/metrics`))})));
  } catch (error) { showError(error.message); return; }
  document.getElementById("compared").append(...runs.map((run, i) =>
    el("li", {class: `legend c${i % 6}`}, el("a", {href: href("/run", {id: run.id})}, run.id), ` (${run.status})`)));
  const keys = runs.map(run => new Set(run.metrics.flatMap(row =>
    Object.keys(row).filter(k => typeof row[k] === "number" && !["epoch", "seconds", "step"].includes(k)))));
  const shared = [...(keys[0] || [])].filter(key => keys.every(set => set.has(key)));
  const charts = document.getElementById("charts");
  if (!shared.length) { charts.append(el("p", {class: "empty"}, t("nothing_shared"))); return; }
  for (const key of shared) {
    charts.append(lineChart(key, runs.map(run => ({name: run.id.split("~").slice(-2).join(" "),
      points: run.metrics.filter(row => typeof row[key] === "number").map((row, k) => [row.epoch ?? k + 1, row[key]])})), t("epoch")));
  }
}

document.addEventListener("DOMContentLoaded", showCompare);
