// The runs page: every run folder with its lab, status, main metric and start.
"use strict";

async function showRuns() {
  header("runs");
  document.getElementById("title").textContent = t("runs");
  document.title = `layerlab · ${t("runs")}`;
  let data;
  try { data = await api("/api/runs"); } catch (error) { showError(error.message); return; }
  document.getElementById("intro").textContent = `${t("runs_intro")} ${data.root}`;
  const table = document.getElementById("runs");
  if (!data.runs.length) { table.replaceWith(el("p", {id: "runs", class: "empty"}, t("no_runs"))); return; }
  table.append(el("tr", {}, ["", t("lab"), t("status"), t("metric"), "", t("started")].map(h => el("th", {}, h))));
  for (const run of data.runs) {
    const arrow = run.higher_is_better === null ? "" : run.higher_is_better ? " ↑" : " ↓";
    const epoch = run.epoch !== undefined && run.epoch !== null ? ` (${t("epoch")} ${run.epoch})` : "";
    table.append(el("tr", {class: "run", "data-id": run.id},
      el("td", {}, el("input", {type: "checkbox", class: "pick", value: run.id, title: t("compare")})),
      el("td", {}, el("a", {href: href("/run", {id: run.id})}, run.lab), el("div", {class: "sub"}, run.title)),
      el("td", {}, el("span", {class: `status ${run.status}`, title: run.error || ""}, run.status)),
      el("td", {}, (run.metric || "–") + arrow + epoch),
      el("td", {class: "num"}, typeof run.value === "number" ? run.value.toFixed(4) : "–"),
      el("td", {}, (run.started || "–").slice(0, 16).replace("T", " "))));
  }
  const compare = el("button", {type: "button", id: "compare", disabled: ""}, t("compare_button"));
  compare.addEventListener("click", () => {
    const ids = [...document.querySelectorAll("input.pick:checked")].map(box => box.value);
    location.href = href("/compare", {ids: ids.join(",")});
  });
  table.addEventListener("change", () => { compare.disabled = document.querySelectorAll("input.pick:checked").length < 2; });
  table.after(el("p", {}, compare));
}

document.addEventListener("DOMContentLoaded", showRuns);
