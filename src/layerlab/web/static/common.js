// layerlab explorer: what every page shares. Captions (en/ko), the JSON API, a line chart,
// a small Markdown renderer for report.md. Plain JavaScript, no library, no build step.
"use strict";

const LANG = new URLSearchParams(location.search).get("lang") === "ko" ? "ko" : "en";

const CAPTIONS = {
  en: {
    runs: "Runs", explain: "Explain", lab: "lab", status: "status", metric: "main metric", started: "started",
    no_runs: "No runs yet. Train one: layerlab run mnist-mlp --dataset digits",
    runs_intro: "Every run folder under", config: "Configuration", epochs_table: "Per-epoch table",
    curves: "Curves", figures: "Figures", report: "report.md", model: "Model", results: "Results",
    layer: "layer", type: "type", output_shape: "output shape", parameters: "parameters", formula: "formula",
    total_params: "total parameters", macs: "multiply-accumulates per sample", try_it: "Try it",
    try_intro: "Upload an image: the model converts it to what it was trained on, predicts, and shows what every convolution layer made of it.",
    choose: "Choose an image", prediction: "Prediction", softmax: "Softmax probabilities",
    feature_maps: "Feature maps of every conv layer", showing: "showing", of: "of", channels: "channels",
    input_seen: "The input as the model sees it", no_convs: "This model has no conv layers: no feature maps to show.",
    cannot_try: "Try it works for image classifiers.", loading: "loading…", live: "running: the curves update every 3 s",
    no_metrics: "No epochs recorded yet.", conv_title: "Output size of a convolution",
    conv_intro: "Move the sliders: input size N, filter size F, padding P, stride S. The output size along one side is (N − F + 2P)/S + 1.",
    input_size: "input N", kernel: "filter F", padding: "padding P", stride: "stride S",
    not_whole: "is not a whole number: the last window does not fit. PyTorch drops it (floor), giving",
    too_small: "The filter is larger than the padded input: no output.",
    same_size: "Padding (F − 1)/2 keeps the size when S = 1.",
    softmax_title: "Softmax: from scores (logits) to probabilities",
    softmax_intro: "Edit the logits. Softmax turns them into probabilities that are positive and sum to 1: p_i = e^(z_i) / Σ_j e^(z_j). Adding the same number to every logit changes nothing; the temperature T divides them first.",
    temperature: "temperature T", add_logit: "add a class", remove_logit: "remove the last", sum: "sum",
    class: "class", logit: "logit z", probability: "probability p", argmax: "argmax: class",
    error: "Error", epoch: "epoch", grid_note: "Input with padding (grey) and the first window; the output grid below.",
    lang_switch: "한국어", notes: "Converted",
    pool_title: "Pooling: 2×2 windows, stride 2",
    pool_intro: "Edit the numbers. Each output is the largest (max pooling) or the mean (average pooling) of one 2×2 window; the four windows do not overlap, so a 4×4 input becomes 2×2 and there is nothing to learn.",
    pool_kind: "pooling",
    compare: "Compare runs", compare_button: "Compare the checked runs' curves", nothing_shared: "These runs share no per-epoch quantity.",
    draw_intro: "Or draw with the mouse (white on black, as MNIST is):", draw_predict: "Predict the drawing", draw_clear: "Clear",
    try_other: "Upload an image: the run's model answers as `layerlab predict` does (a mask, a reconstruction, the text it reads, boxes, ...).",
    try_text: "This run's model works on text or draws new images: type a prompt, or draw samples.",
    draw_samples: "Draw new images", how_many: "how many", seed: "seed", send_prompt: "Send", length: "characters to write",
    click_map: "Click a pixel of any feature map: the number there, the dot product that made it, and the input pixels it saw.",
    row: "row", column: "column", rows: "rows", columns: "columns", in_channels: "input channels",
    per_channel: "each input channel's part", terms_of: "every term w×x of input channel", pixels: "pixels",
    field: "receptive field on the input (pixels whose change would change this number)",
    no_field: "no input pixel reaches this number (a ReLU before it is off)",
    act_title: "Activation functions and their slopes",
    act_intro: "Pick a function and move x. Blue is f(x), red its derivative f'(x): backpropagation multiplies the gradient by f'(x) at every layer, so a slope below 1 shrinks it layer after layer.",
    act_kind: "function", act_x: "x", act_most: "largest slope:", act_ten: "after 10 layers at most",
    lr_title: "Learning rate on a 1-D loss",
    lr_intro: "Gradient descent on L(w) = (w − 3)²: each step w ← w − lr · dL/dw, with dL/dw = 2(w − 3). Move the learning rate and the start; the green path is 10 steps.",
    lr_rate: "learning rate lr", lr_start: "start w₀",
    lr_converges: "each step moves part of the way: it converges (slowly when lr is small)",
    lr_zigzag: "each step jumps past the minimum, by less each time: it converges in a zigzag",
    lr_one_step: "lr = 0.5 lands on the minimum w = 3 in one step",
    lr_diverges: "each step overshoots further than the last: it diverges (the loss grows)",
  },
  ko: {
    runs: "실행 목록", explain: "개념 설명", lab: "실습", status: "상태", metric: "주요 지표", started: "시작",
    no_runs: "아직 실행이 없습니다. 하나 학습해 보세요: layerlab run mnist-mlp --dataset digits",
    runs_intro: "다음 폴더의 모든 실행:", config: "설정", epochs_table: "에포크별 표",
    curves: "학습 곡선", figures: "그림", report: "report.md", model: "모델", results: "결과",
    layer: "층", type: "종류", output_shape: "출력 모양", parameters: "파라미터", formula: "계산식",
    total_params: "전체 파라미터", macs: "샘플당 곱셈-누산", try_it: "직접 해보기",
    try_intro: "이미지를 올리세요: 모델이 학습한 형태로 바꾼 뒤 예측하고, 각 합성곱 층이 이미지에서 무엇을 뽑아냈는지 보여 줍니다.",
    choose: "이미지 선택", prediction: "예측", softmax: "소프트맥스 확률",
    feature_maps: "모든 합성곱 층의 특징 맵", showing: "표시", of: "/", channels: "채널",
    input_seen: "모델이 보는 입력", no_convs: "이 모델에는 합성곱 층이 없어 특징 맵이 없습니다.",
    cannot_try: "직접 해보기는 이미지 분류 모델에서 동작합니다.", loading: "불러오는 중…", live: "학습 중: 곡선이 3초마다 갱신됩니다",
    no_metrics: "아직 기록된 에포크가 없습니다.", conv_title: "합성곱의 출력 크기",
    conv_intro: "슬라이더를 움직여 보세요: 입력 크기 N, 필터 크기 F, 패딩 P, 스트라이드 S. 한 변의 출력 크기는 (N − F + 2P)/S + 1 입니다.",
    input_size: "입력 N", kernel: "필터 F", padding: "패딩 P", stride: "스트라이드 S",
    not_whole: "은(는) 정수가 아닙니다: 마지막 윈도우가 들어가지 않습니다. PyTorch는 버림(floor)하여 다음 크기가 됩니다:",
    too_small: "필터가 패딩된 입력보다 큽니다: 출력이 없습니다.",
    same_size: "S = 1일 때 패딩 (F − 1)/2이면 크기가 그대로입니다.",
    softmax_title: "소프트맥스: 점수(로짓)에서 확률로",
    softmax_intro: "로짓을 바꿔 보세요. 소프트맥스는 점수를 양수이고 합이 1인 확률로 바꿉니다: p_i = e^(z_i) / Σ_j e^(z_j). 모든 로짓에 같은 수를 더해도 바뀌지 않습니다; 온도 T로 먼저 나눕니다.",
    temperature: "온도 T", add_logit: "클래스 추가", remove_logit: "마지막 제거", sum: "합계",
    class: "클래스", logit: "로짓 z", probability: "확률 p", argmax: "argmax: 클래스",
    error: "오류", epoch: "에포크", grid_note: "패딩(회색)을 포함한 입력과 첫 윈도우; 아래는 출력 격자.",
    lang_switch: "English", notes: "변환",
    pool_title: "풀링: 2×2 윈도우, 스트라이드 2",
    pool_intro: "숫자를 바꿔 보세요. 출력은 2×2 윈도우의 가장 큰 값(최대 풀링) 또는 평균(평균 풀링)입니다; 네 윈도우는 겹치지 않으므로 4×4 입력이 2×2가 되고, 학습할 파라미터는 없습니다.",
    pool_kind: "풀링",
    compare: "실행 비교", compare_button: "선택한 실행의 곡선 비교", nothing_shared: "이 실행들에 공통된 에포크별 값이 없습니다.",
    draw_intro: "또는 마우스로 그려 보세요 (MNIST처럼 검은 바탕에 흰 글씨):", draw_predict: "그림으로 예측", draw_clear: "지우기",
    try_other: "이미지를 올리세요: 이 실행의 모델이 `layerlab predict`처럼 답합니다 (마스크, 복원 이미지, 읽은 글자, 상자 등).",
    try_text: "이 실행의 모델은 텍스트를 다루거나 새 이미지를 그립니다: 프롬프트를 입력하거나 샘플을 그려 보세요.",
    draw_samples: "새 이미지 그리기", how_many: "개수", seed: "시드", send_prompt: "보내기", length: "쓸 글자 수",
    click_map: "특징 맵의 픽셀을 클릭해 보세요: 그 값, 그 값을 만든 내적, 그 값이 본 입력 픽셀을 보여 줍니다.",
    row: "행", column: "열", rows: "행", columns: "열", in_channels: "입력 채널",
    per_channel: "입력 채널별 기여", terms_of: "입력 채널의 모든 항 w×x:", pixels: "픽셀",
    field: "입력에서의 수용 영역 (바뀌면 이 값이 바뀌는 픽셀)",
    no_field: "이 값에 닿는 입력 픽셀이 없습니다 (앞의 ReLU가 꺼져 있음)",
    act_title: "활성화 함수와 그 기울기",
    act_intro: "함수를 고르고 x를 움직여 보세요. 파랑은 f(x), 빨강은 도함수 f'(x)입니다: 역전파는 층마다 기울기에 f'(x)를 곱하므로, 1보다 작은 기울기는 층을 지날수록 기울기를 줄입니다.",
    act_kind: "함수", act_x: "x", act_most: "최대 기울기:", act_ten: "10개 층을 지나면 최대",
    lr_title: "1차원 손실에서의 학습률",
    lr_intro: "L(w) = (w − 3)²에서의 경사 하강법: 매 단계 w ← w − lr · dL/dw, dL/dw = 2(w − 3). 학습률과 시작점을 움직여 보세요; 초록 경로가 10단계입니다.",
    lr_rate: "학습률 lr", lr_start: "시작점 w₀",
    lr_converges: "매 단계 일부만큼 다가갑니다: 수렴합니다 (lr이 작으면 느리게)",
    lr_zigzag: "매 단계 최솟값을 지나치지만 점점 덜 지나칩니다: 지그재그로 수렴합니다",
    lr_one_step: "lr = 0.5이면 한 번에 최솟값 w = 3에 도착합니다",
    lr_diverges: "매 단계 이전보다 더 멀리 지나칩니다: 발산합니다 (손실이 커짐)",
  },
};

function t(key) { return CAPTIONS[LANG][key] ?? CAPTIONS.en[key] ?? key; }

// An address on this site that keeps the language.
function href(path, params = {}) {
  const query = new URLSearchParams(params);
  if (LANG === "ko") query.set("lang", "ko");
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

// el("p", {class: "x"}, "text", child): a DOM element; strings become text nodes (never HTML).
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// The JSON API: the parsed object, or an Error whose message is the server's one-line "error".
async function api(url, options = {}) {
  const response = await fetch(url, options);
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  return body;
}

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message ? `${t("error")}: ${message}` : "";
  box.hidden = !message;
}

function header(active) {
  const links = [["/", "runs"], ["/explain", "explain"]].map(([path, key]) =>
    el("a", {href: href(path), class: key === active ? "active" : ""}, t(key)));
  const other = new URLSearchParams(location.search);
  if (LANG === "ko") other.delete("lang"); else other.set("lang", "ko");
  const toggle = el("a", {href: `${location.pathname}?${other}`, class: "lang", id: "lang", lang: LANG === "ko" ? "en" : "ko"},
    t("lang_switch"));
  document.body.prepend(el("header", {}, el("strong", {}, "layerlab"), ...links, toggle));
  document.documentElement.lang = LANG;
}

function formatNumber(value) {
  if (typeof value !== "number") return value === null || value === undefined ? "–" : String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return Math.abs(value) >= 1e-3 && Math.abs(value) < 1e5 ? value.toPrecision(4) : value.toExponential(3);
}

// A line chart as SVG: series = [{name, points: [[x, y], ...]}], drawn in the browser from the JSON.
function lineChart(title, series, xLabel) {
  const W = 360, H = 220, L = 52, R = 10, T = 24, B = 34;
  const all = series.flatMap(s => s.points).filter(p => Number.isFinite(p[1]));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "chart");
  const add = (tag, attrs, text) => {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  add("text", {x: W / 2, y: 15, "text-anchor": "middle", class: "title"}, title);
  if (!all.length) return svg;
  const xs = all.map(p => p[0]), ys = all.map(p => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 + 1e-6; y1 += Math.abs(y1) * 0.1 + 1e-6; }
  const sx = x => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = y => H - B - (y - y0) / (y1 - y0) * (H - T - B);
  add("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis"});
  add("line", {x1: L, y1: T, x2: L, y2: H - B, class: "axis"});
  for (const y of [y0, (y0 + y1) / 2, y1]) add("text", {x: L - 4, y: sy(y) + 4, "text-anchor": "end"}, formatNumber(y));
  for (const x of [x0, x1]) add("text", {x: sx(x), y: H - B + 14, "text-anchor": "middle"}, formatNumber(x));
  add("text", {x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle"}, xLabel);
  series.forEach((s, i) => {
    const points = s.points.filter(p => Number.isFinite(p[1]));
    add("polyline", {points: points.map(p => `${sx(p[0])},${sy(p[1])}`).join(" "), class: `line c${i % 6}`});
    for (const p of points) add("circle", {cx: sx(p[0]), cy: sy(p[1]), r: 2.5, class: `dot c${i % 6}`});
    add("text", {x: W - R - 4, y: T + 12 + 13 * i, "text-anchor": "end", class: `legend c${i % 6}`}, s.name);
  });
  return svg;
}

// report.md as DOM nodes: headings, paragraphs, lists, tables, fenced code, images, `code`, **bold**.
// Text is never parsed as HTML; an image's address is resolved by `imageUrl` (figures/x.png -> the API).
function renderMarkdown(text, imageUrl) {
  const out = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("```")) {
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) code.push(lines[i]);
      out.push(el("pre", {}, code.join("\n")));
    } else if (/^#{1,6} /.test(line)) {
      const level = line.indexOf(" ");                 // the number of #s
      out.push(el(`h${level}`, {}, inline(line.slice(line.indexOf(" ") + 1), imageUrl)));
    } else if (line.startsWith("|")) {
      const rows = [];
      for (; i < lines.length && lines[i].startsWith("|"); i++) rows.push(lines[i]);
      i--;
      const cells = row => row.replace(/^\||\|$/g, "").split("|").map(c => c.trim());
      const body = rows.filter((r, k) => !(k === 1 && /^[|\s:-]+$/.test(r)));
      out.push(el("table", {}, body.map((r, k) => el("tr", {}, cells(r).map(c => el(k === 0 ? "th" : "td", {}, inline(c, imageUrl)))))));
    } else if (/^\s*[-*] /.test(line)) {
      const items = [];
      for (; i < lines.length && /^\s*[-*] /.test(lines[i]); i++) items.push(lines[i].replace(/^\s*[-*] /, ""));
      i--;
      out.push(el("ul", {}, items.map(item => el("li", {}, inline(item, imageUrl)))));
    } else if (line.trim()) {
      out.push(el("p", {}, inline(line, imageUrl)));
    }
  }
  return out;
}

function inline(text, imageUrl) {
  const parts = [];
  const pattern = /!\[([^\]]*)\]\(([^)]+)\)|`([^`]+)`|\*\*([^*]+)\*\*/g;
  let last = 0, match;
  while ((match = pattern.exec(text))) {
    parts.push(text.slice(last, match.index));
    if (match[2] !== undefined) {
      const url = imageUrl(match[2]);
      parts.push(url ? el("img", {src: url, alt: match[1], class: "figure"}) : match[0]);
    } else if (match[3] !== undefined) parts.push(el("code", {}, match[3]));
    else parts.push(el("strong", {}, match[4]));
    last = pattern.lastIndex;
  }
  parts.push(text.slice(last));
  return parts;
}
