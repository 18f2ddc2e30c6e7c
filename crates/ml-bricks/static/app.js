// Machine Learning with Bricks — the page. Plain JavaScript, no build step. Every algorithm
// runs in Rust behind the JSON API; this file draws, animates and sends the hub messages.
"use strict";

const TEXT = {
  en: {
    title: "Machine Learning with Bricks",
    subtitle: "The LEGO robot is simulated: every control below talks to a simulated hub.",
    "fruit.name": "Fruit detector", "pitcher.name": "Pitcher", "crawler.name": "Crawler",
    "fruit.help": "Put a fruit on the caliper, press the right hub button (colour) and the left one (length). In training mode the point joins the data; in prediction mode its k nearest neighbours vote.",
    mode: "Mode", training: "Training", prediction: "Prediction",
    "fruit.class": "Current class", "fruit.placed": "Fruit on the caliper",
    apple: "🍎 apple", banana: "🍌 banana",
    "fruit.right": "Right button: colour", "fruit.left": "Left button: length",
    "fruit.k": "K", "fruit.border": "Show decision border", "fruit.hide": "Hide prediction datapoint",
    "fruit.table": "Training points", length: "Length (cm)", colour: "Colour", label: "Label", delete: "Delete",
    "pitcher.help": "Set the motor power, pitch the ball and measure where it landed. Then fit a line power = m · distance + b and aim at a target.",
    "pitcher.power": "Motor power (%)", "pitcher.update": "Update motor speed", "pitcher.pitch": "Pitch ball",
    "pitcher.measure": "Measure distance", "pitcher.fit": "Calculate best parameters",
    "pitcher.target": "Target distance (cm)", "pitcher.place": "Place target", "pitcher.table": "Throws",
    distance: "Distance (cm)", power: "Power",
    "crawler.help": "The crawler tries moves between four arm poses and learns from how far each move takes it from the wall.",
    "crawler.exploration": "Exploration", high: "high", low: "low", none: "none",
    "crawler.foresight": "Foresight", "crawler.wait": "Wait before next move",
    "crawler.table": "Decision table (rows: current pose, columns: next pose)",
    exploitation: "Mode: exploitation", exploration: "Mode: exploration",
    predicted: "Prediction: ", undecided: "undecided", loss: "LOSS (mean squared error): ",
    need2: "Measure at least 2 throws first.", tooClose: "Too close to the wall: training paused.",
    tooFar: "Too far from the wall: training paused.", landed: "The ball landed at ", aim: "Aim: power ",
    known: "rewards known: ", lang: "Deutsch",
  },
  de: {
    title: "Maschinelles Lernen mit Bausteinen",
    subtitle: "Der LEGO-Roboter ist simuliert: jedes Bedienelement spricht mit einem simulierten Hub.",
    "fruit.name": "Obst-Erkenner", "pitcher.name": "Werfer", "crawler.name": "Krabbler",
    "fruit.help": "Lege eine Frucht in die Messlehre, drücke die rechte Hub-Taste (Farbe) und die linke (Länge). Im Trainingsmodus kommt der Punkt zu den Daten; im Vorhersagemodus stimmen seine k nächsten Nachbarn ab.",
    mode: "Modus", training: "Training", prediction: "Vorhersage",
    "fruit.class": "Aktuelle Klasse", "fruit.placed": "Frucht in der Messlehre",
    apple: "🍎 Apfel", banana: "🍌 Banane",
    "fruit.right": "Rechte Taste: Farbe", "fruit.left": "Linke Taste: Länge",
    "fruit.k": "K", "fruit.border": "Entscheidungsgrenze zeigen", "fruit.hide": "Vorhersagepunkt ausblenden",
    "fruit.table": "Trainingspunkte", length: "Länge (cm)", colour: "Farbe", label: "Klasse", delete: "Löschen",
    "pitcher.help": "Stelle die Motorleistung ein, wirf den Ball und miss, wo er gelandet ist. Dann passe eine Gerade Leistung = m · Distanz + b an und ziele auf ein Ziel.",
    "pitcher.power": "Motorleistung (%)", "pitcher.update": "Motorgeschwindigkeit setzen", "pitcher.pitch": "Ball werfen",
    "pitcher.measure": "Distanz messen", "pitcher.fit": "Beste Parameter berechnen",
    "pitcher.target": "Zieldistanz (cm)", "pitcher.place": "Ziel aufstellen", "pitcher.table": "Würfe",
    distance: "Distanz (cm)", power: "Leistung",
    "crawler.help": "Der Krabbler probiert Bewegungen zwischen vier Armhaltungen und lernt daraus, wie weit ihn jede von der Wand wegbringt.",
    "crawler.exploration": "Erkundung", high: "hoch", low: "niedrig", none: "keine",
    "crawler.foresight": "Voraussicht", "crawler.wait": "Vor jeder Bewegung warten",
    "crawler.table": "Entscheidungstabelle (Zeilen: aktuelle Haltung, Spalten: nächste Haltung)",
    exploitation: "Modus: Ausnutzen", exploration: "Modus: Erkunden",
    predicted: "Vorhersage: ", undecided: "unentschieden", loss: "VERLUST (mittlerer quadratischer Fehler): ",
    need2: "Miss zuerst mindestens 2 Würfe.", tooClose: "Zu nah an der Wand: Training angehalten.",
    tooFar: "Zu weit von der Wand: Training angehalten.", landed: "Der Ball landete bei ", aim: "Zielen: Leistung ",
    known: "bekannte Belohnungen: ", lang: "English",
  },
};

let lang = localStorage.getItem("mlb-lang") || "en";
let session = null;
let state = null;
let border = null;
let lastPrediction = null;
let hoverRow = -1;
let crawlerMode = null;
let ball = null;
const $ = (id) => document.getElementById(id);
const t = (key) => (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key;

function applyLanguage() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("lang").textContent = t("lang");
  if (state) render();
}

function toast(msg) {
  const el = $("toast");
  el.textContent = msg;
  el.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove("show"), 4000);
}

async function api(method, path, body) {
  const r = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const v = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(v.error || r.statusText), { status: r.status });
  return v;
}

async function send(activity, action, payload) {
  try {
    const v = await api("POST", `/api/session/${session}/${activity}`, { action, payload: payload ?? null });
    for (const e of v.events) onEvent(e, true);
    await refresh();
    return v;
  } catch (e) {
    toast(e.message);
    return null;
  }
}

async function refresh() {
  state = await api("GET", `/api/session/${session}`);
  render();
}

async function connect() {
  session = localStorage.getItem("mlb-session");
  try {
    if (!session) throw new Error("none");
    state = await api("GET", `/api/session/${session}`);
  } catch (_) {
    session = (await api("POST", "/api/session")).id;
    localStorage.setItem("mlb-session", session);
    state = await api("GET", `/api/session/${session}`);
  }
  const source = new EventSource(`/api/session/${session}/events`);
  source.onmessage = (m) => {
    const e = JSON.parse(m.data);
    if (["action_update", "state_update", "tables_update", "too_close", "too_far", "lagged", "error"].includes(e.action)) {
      onEvent(e, false);
      refresh();
    }
  };
  render();
}

function onEvent(e, direct) {
  const p = e.payload;
  switch (e.action) {
    case "inference_result":
      lastPrediction = p;
      $("fruit-result").textContent = t("predicted") + (p.vote === "undecided" ? t("undecided") : t(p.vote));
      break;
    case "border": border = p; break;
    case "add_point": if (state && state.fruit && $("show-border").checked && p.point) requestBorder(); break;
    case "landed":
      ball = { start: performance.now(), distance: p.distance };
      $("pitcher-result").textContent = t("landed") + p.distance.toFixed(1) + " cm";
      animate();
      break;
    case "infer_distance":
      $("pitcher-result").textContent = t("aim") + p.power + " %";
      $("power").value = p.power;
      $("power-out").textContent = p.power;
      break;
    case "line":
      if (p.mse !== null) $("pitcher-result").textContent = t("loss") + p.mse.toFixed(2);
      break;
    case "action_update": crawlerMode = p.mode; break;
    case "too_close": toast(t("tooClose")); break;
    case "too_far": toast(t("tooFar")); break;
    case "error": toast(p.error); break;
    default: break;
  }
  if (!direct) render();
}

function requestBorder() {
  if (state && state.fruit.points.length > 0) send("fruit", "border");
}

// ---------- drawing ----------
const FRUIT_PAD = 36;
function fruitXY(c, green, length) {
  return [FRUIT_PAD + (green / 1024) * (c.width - FRUIT_PAD - 10), c.height - FRUIT_PAD - (length / 20) * (c.height - FRUIT_PAD - 10)];
}

function axes(ctx, c, xl, yl) {
  ctx.strokeStyle = "#888"; ctx.fillStyle = "#444"; ctx.font = "12px sans-serif";
  ctx.beginPath(); ctx.moveTo(FRUIT_PAD, 10); ctx.lineTo(FRUIT_PAD, c.height - FRUIT_PAD); ctx.lineTo(c.width - 10, c.height - FRUIT_PAD); ctx.stroke();
  ctx.fillText(xl, c.width / 2 - 30, c.height - 8);
  ctx.save(); ctx.translate(12, c.height / 2 + 20); ctx.rotate(-Math.PI / 2); ctx.fillText(yl, 0, 0); ctx.restore();
}

function drawFruit() {
  const c = $("fruit-canvas"), ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  const f = state.fruit;
  if ($("show-border").checked && border && border.k === f.k) {
    const n = border.resolution;
    const w = (c.width - FRUIT_PAD - 10) / n, h = (c.height - FRUIT_PAD - 10) / n;
    for (let r = 0; r < n; r++) for (let col = 0; col < n; col++) {
      const ch = border.cells[r * n + col];
      ctx.fillStyle = ch === "a" ? "#ffc8dd" : ch === "b" ? "#fff3a0" : "#ddd";
      ctx.fillRect(FRUIT_PAD + col * w, c.height - FRUIT_PAD - (r + 1) * h, w + 0.5, h + 0.5);
    }
  }
  // The colour axis: red → yellow under the plot (green channel 0–1024, ticks hidden).
  const g = ctx.createLinearGradient(FRUIT_PAD, 0, c.width - 10, 0);
  g.addColorStop(0, "#d00000"); g.addColorStop(1, "#ffd000");
  ctx.fillStyle = g; ctx.fillRect(FRUIT_PAD, c.height - FRUIT_PAD + 4, c.width - FRUIT_PAD - 10, 8);
  axes(ctx, c, t("colour"), t("length"));
  ctx.font = "18px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
  f.points.forEach((p, i) => {
    const [x, y] = fruitXY(c, p.green, p.length);
    if (i === hoverRow) { ctx.strokeStyle = "#e63946"; ctx.beginPath(); ctx.arc(x, y, 13, 0, 7); ctx.stroke(); }
    // A coloured disc under the emoji: the point shows where no emoji font is installed.
    ctx.fillStyle = p.label === "apple" ? "#e63946" : "#f4c430";
    ctx.beginPath(); ctx.arc(x, y, 6, 0, 7); ctx.fill();
    ctx.fillText(p.label === "apple" ? "🍎" : "🍌", x, y);
  });
  if (f.mode === "prediction" && lastPrediction && !$("hide-pred").checked) {
    const [px, py] = fruitXY(c, lastPrediction.green, lastPrediction.length);
    ctx.strokeStyle = "#1d3557";
    for (const i of lastPrediction.neighbours) {
      const p = f.points[i]; if (!p) continue;
      const [x, y] = fruitXY(c, p.green, p.length);
      ctx.beginPath(); ctx.moveTo(px, py); ctx.lineTo(x, y); ctx.stroke();
    }
    ctx.fillStyle = "#1d3557"; ctx.beginPath(); ctx.arc(px, py, 6, 0, 7); ctx.fill();
    ctx.fillText("❓", px, py);
  }
  ctx.textAlign = "start"; ctx.textBaseline = "alphabetic";
}

function fruitTable() {
  const body = $("fruit-table").querySelector("tbody");
  body.innerHTML = "";
  state.fruit.points.forEach((p, i) => {
    const tr = document.createElement("tr");
    tr.onmouseenter = () => { hoverRow = i; drawFruit(); };
    tr.onmouseleave = () => { hoverRow = -1; drawFruit(); };
    const g = Math.round((p.green / 1024) * 255);
    tr.innerHTML = `<td>${p.length.toFixed(1)}</td><td><span class="swatch" style="background:rgb(230,${g},0)" aria-label="green ${Math.round(p.green)}"></span></td>`;
    const sel = document.createElement("select");
    sel.setAttribute("aria-label", t("label") + " " + (i + 1));
    for (const v of ["apple", "banana"]) {
      const o = document.createElement("option"); o.value = v; o.textContent = t(v); o.selected = p.label === v; sel.appendChild(o);
    }
    sel.onchange = () => send("fruit", "change_datapoint_label", { index: i, label: sel.value }).then(() => border && requestBorder());
    const td = document.createElement("td"); td.appendChild(sel); tr.appendChild(td);
    const del = document.createElement("button"); del.textContent = "🗑"; del.setAttribute("aria-label", t("delete") + " " + (i + 1));
    del.onclick = () => send("fruit", "delete_datapoint", { index: i }).then(() => border && requestBorder());
    const td2 = document.createElement("td"); td2.appendChild(del); tr.appendChild(td2);
    body.appendChild(tr);
  });
}

function plotXY(c, d, p) {
  return [FRUIT_PAD + (d / 100) * (c.width - FRUIT_PAD - 10), c.height - FRUIT_PAD - (p / 100) * (c.height - FRUIT_PAD - 10)];
}

function drawPitcher() {
  const s = state.pitcher;
  const c = $("pitcher-plot"), ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  axes(ctx, c, t("distance"), t("power"));
  if (s.mode === "prediction") {
    ctx.strokeStyle = "#e63946"; ctx.lineWidth = 2; ctx.beginPath();
    const [x0, y0] = plotXY(c, 0, s.line.b), [x1, y1] = plotXY(c, 100, s.line.m * 100 + s.line.b);
    ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke(); ctx.lineWidth = 1;
    ctx.setLineDash([4, 3]); ctx.strokeStyle = "#888";
    for (const th of s.throws) {
      const [x, y] = plotXY(c, th.distance, th.power), [, yl] = plotXY(c, th.distance, s.line.m * th.distance + s.line.b);
      ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x, yl); ctx.stroke();
    }
    if (s.target !== null) {
      const yhat = s.line.m * s.target + s.line.b;
      const [tx, ty] = plotXY(c, s.target, yhat), [bx, by] = plotXY(c, s.target, 0), [ax] = plotXY(c, 0, yhat);
      ctx.strokeStyle = "#1d3557"; ctx.beginPath(); ctx.moveTo(bx, by); ctx.lineTo(tx, ty); ctx.lineTo(ax, ty); ctx.stroke();
      ctx.font = "16px sans-serif"; ctx.fillText("🎯", tx - 8, ty - 6);
    }
    ctx.setLineDash([]);
  }
  ctx.fillStyle = "#1d3557";
  for (const th of s.throws) { const [x, y] = plotXY(c, th.distance, th.power); ctx.beginPath(); ctx.arc(x, y, 4, 0, 7); ctx.fill(); }
  drawRobot(performance.now());
}

function drawRobot(now) {
  const c = $("pitcher-robot"), ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  const ground = c.height - 20, scale = (c.width - 80) / 130;
  ctx.fillStyle = "#8d99ae"; ctx.fillRect(0, ground, c.width, 4);
  ctx.fillStyle = "#ffb703"; ctx.fillRect(20, ground - 40, 30, 40);
  let angle = -Math.PI / 4, bx = null, by = null;
  if (ball) {
    const k = Math.min(1, (now - ball.start) / 900);
    angle = -Math.PI / 4 + Math.min(1, k * 3) * Math.PI * 1.2;
    const d = Math.max(0, ball.distance) * k;
    bx = 50 + d * scale; by = ground - 60 * 4 * k * (1 - k) - 4;
    if (k >= 1) ball = null;
  }
  ctx.strokeStyle = "#e63946"; ctx.lineWidth = 5; ctx.beginPath();
  ctx.moveTo(35, ground - 40); ctx.lineTo(35 + 30 * Math.cos(angle), ground - 40 - 30 * Math.sin(angle)); ctx.stroke(); ctx.lineWidth = 1;
  if (bx !== null) { ctx.fillStyle = "#2a9d8f"; ctx.beginPath(); ctx.arc(bx, by, 5, 0, 7); ctx.fill(); }
  ctx.fillStyle = "#444"; ctx.font = "11px sans-serif";
  for (let d = 0; d <= 130; d += 20) ctx.fillText(String(d), 50 + d * scale - 6, c.height - 4);
}

function animate() {
  drawRobot(performance.now());
  if (ball) requestAnimationFrame(animate);
}

function pitcherTable() {
  const body = $("pitcher-table").querySelector("tbody");
  body.innerHTML = "";
  state.pitcher.throws.forEach((th, i) => {
    const tr = document.createElement("tr");
    tr.innerHTML = `<td>${th.distance.toFixed(1)}</td><td><span class="bar" style="width:${th.power}px"></span> ${th.power}</td>`;
    const del = document.createElement("button"); del.textContent = "🗑"; del.setAttribute("aria-label", t("delete") + " " + (i + 1));
    del.onclick = () => send("pitcher", "delete_datapoint", { index: i });
    const td = document.createElement("td"); td.appendChild(del); tr.appendChild(td);
    body.appendChild(tr);
  });
}

const POSES = [[0, 0], [290, 40], [330, 250], [60, 250]];
function drawCrawler() {
  const cr = state.crawler, c = $("crawler-canvas"), ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  const ground = c.height - 30;
  ctx.fillStyle = "#6c757d"; ctx.fillRect(10, 10, 12, ground - 10);
  ctx.fillStyle = "#8d99ae"; ctx.fillRect(0, ground, c.width, 4);
  const x = 22 + Math.min(1, cr.world.wall / 160) * (c.width - 120);
  ctx.fillStyle = "#ffb703"; ctx.fillRect(x, ground - 30, 70, 30);
  const [a1, a2] = POSES[cr.world.pose].map((d) => (d * Math.PI) / 180);
  const sx = x + 5, sy = ground - 30, ex = sx - 35 * Math.cos(a1 / 2), ey = sy - 35 * Math.sin(a1 / 2 + 0.3);
  ctx.strokeStyle = "#e63946"; ctx.lineWidth = 5; ctx.beginPath(); ctx.moveTo(sx, sy); ctx.lineTo(ex, ey);
  ctx.lineTo(ex - 25 * Math.cos(a2 / 2), Math.min(ground, ey + 25 * Math.sin(a2 / 2 + 0.5))); ctx.stroke(); ctx.lineWidth = 1;
  ctx.fillStyle = "#222"; ctx.font = "12px sans-serif";
  ctx.fillText(`${cr.world.wall.toFixed(1)} cm`, x, ground + 20);
}

function crawlerTable() {
  const cr = state.crawler, q = cr.learner.q, last = cr.last_move;
  const head = $("q-table").querySelector("thead"), body = $("q-table").querySelector("tbody");
  head.innerHTML = "<tr><th></th>" + [0, 1, 2, 3].map((j) => `<th>→ ${j}</th>`).join("") + "</tr>";
  body.innerHTML = "";
  for (let s = 0; s < 4; s++) {
    const tr = document.createElement("tr");
    tr.innerHTML = `<th>${s}</th>`;
    for (let a = 0; a < 4; a++) {
      const td = document.createElement("td");
      if (s !== a) {
        const v = q[s][a];
        td.textContent = (v > 0 ? "+" : "") + v.toFixed(2);
        td.className = v > 0 ? "pos" : v < 0 ? "neg" : "";
        if (last && last[0] === s && last[1] === a) td.classList.add("active");
      }
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  const known = cr.learner.rewards.flat().filter((r) => r !== null).length;
  $("crawler-result").textContent = t("known") + known + " / 12";
  $("crawler-mode").textContent = crawlerMode ? t(crawlerMode) : "";
}

function drawGraph() {
  const cr = state.crawler, c = $("reward-graph"), ctx = c.getContext("2d"), rw = cr.learner.rewards, last = cr.last_move;
  ctx.clearRect(0, 0, c.width, c.height);
  const pos = [[70, 70], [250, 70], [250, 250], [70, 250]];
  ctx.font = "12px sans-serif";
  for (let s = 0; s < 4; s++) for (let a = 0; a < 4; a++) {
    if (s === a) continue;
    const [x0, y0] = pos[s], [x1, y1] = pos[a];
    const nx = -(y1 - y0), ny = x1 - x0, len = Math.hypot(nx, ny), off = 8;
    const ox = (nx / len) * off, oy = (ny / len) * off;
    const r = rw[s][a];
    ctx.strokeStyle = r === null ? "#bbb" : r >= 0 ? "#2a9d8f" : "#e63946";
    ctx.lineWidth = last && last[0] === s && last[1] === a ? 4 : 1.5;
    ctx.beginPath(); ctx.moveTo(x0 + ox, y0 + oy); ctx.lineTo(x1 + ox, y1 + oy); ctx.stroke();
    const mx = x0 + (x1 - x0) * 0.62 + ox * 2.2, my = y0 + (y1 - y0) * 0.62 + oy * 2.2;
    ctx.fillStyle = "#222"; ctx.fillText(r === null ? "?" : (r >= 0 ? "+" : "") + r.toFixed(1), mx - 10, my + 4);
  }
  ctx.lineWidth = 1;
  pos.forEach(([x, y], i) => {
    ctx.fillStyle = i === cr.world.pose ? "#ffb703" : "#fff"; ctx.strokeStyle = "#1d3557";
    ctx.beginPath(); ctx.arc(x, y, 22, 0, 7); ctx.fill(); ctx.stroke();
    ctx.fillStyle = "#1d3557"; ctx.fillText(`${i}: ${POSES[i][0]}°/${POSES[i][1]}°`, x - 30, y + 4);
  });
}

function render() {
  if (!state) return;
  const f = state.fruit, p = state.pitcher, cr = state.crawler;
  document.querySelector(`input[name=fruit-mode][value=${f.mode}]`).checked = true;
  $("fruit-class").value = f.class; $("fruit-placed").value = f.placed;
  $("k").value = f.k; $("k-out").textContent = f.k;
  document.querySelector(`input[name=pitcher-mode][value=${p.mode}]`).checked = true;
  $("pitcher-predict").hidden = p.mode !== "prediction";
  $("m").value = p.line.m; $("m-out").textContent = p.line.m.toFixed(2);
  $("b").value = p.line.b; $("b-out").textContent = p.line.b.toFixed(2);
  document.querySelector(`input[name=explore][value=${cr.exploration}]`).checked = true;
  $("foresight").checked = cr.learner.foresight; $("wait").checked = cr.wait;
  drawFruit(); fruitTable(); drawPitcher(); pitcherTable(); drawCrawler(); crawlerTable(); drawGraph();
  window.__mlbRunning = cr.running; // read by the browser test
  localStorage.setItem("mlb-tab", currentTab);
}

// ---------- controls ----------
let currentTab = localStorage.getItem("mlb-tab") || "fruit";
function showTab(name) {
  currentTab = name;
  for (const n of ["fruit", "pitcher", "crawler"]) {
    $(n).hidden = n !== name;
    $("tab-" + n).setAttribute("aria-selected", String(n === name));
  }
  localStorage.setItem("mlb-tab", name);
}
for (const n of ["fruit", "pitcher", "crawler"]) $("tab-" + n).onclick = () => showTab(n);
$("lang").onclick = () => { lang = lang === "en" ? "de" : "en"; localStorage.setItem("mlb-lang", lang); applyLanguage(); };

document.querySelectorAll("input[name=fruit-mode]").forEach((el) => { el.onchange = () => send("fruit", "change_mode", { mode: el.value }); });
$("fruit-class").onchange = () => send("fruit", "change_class", { class: $("fruit-class").value });
$("fruit-placed").onchange = () => send("fruit", "place_fruit", { fruit: $("fruit-placed").value });
$("press-right").onclick = () => send("fruit", "press_right");
$("press-left").onclick = () => send("fruit", "press_left");
$("k").oninput = () => { $("k-out").textContent = $("k").value; };
$("k").onchange = () => send("fruit", "change_k", { k: Number($("k").value) }).then(() => $("show-border").checked && requestBorder());
$("show-border").onchange = () => { if ($("show-border").checked) requestBorder(); else drawFruit(); };
$("hide-pred").onchange = () => drawFruit();

document.querySelectorAll("input[name=pitcher-mode]").forEach((el) => {
  el.onchange = () => {
    if (el.value === "prediction" && state.pitcher.throws.length < 2) {
      toast(t("need2"));
      document.querySelector("input[name=pitcher-mode][value=training]").checked = true;
      return;
    }
    send("pitcher", "change_mode", { mode: el.value });
  };
});
$("power").oninput = () => { $("power-out").textContent = $("power").value; };
$("update-power").onclick = () => send("pitcher", "change_power", { power: Number($("power").value) });
$("pitch").onclick = () => send("pitcher", "pitch_ball");
$("measure").onclick = () => send("pitcher", "measure_distance");
const sliders = () => send("pitcher", "set_line", { m: Number($("m").value), b: Number($("b").value) });
$("m").oninput = () => { $("m-out").textContent = Number($("m").value).toFixed(2); };
$("b").oninput = () => { $("b-out").textContent = Number($("b").value).toFixed(2); };
$("m").onchange = sliders; $("b").onchange = sliders;
$("fit").onclick = () => send("pitcher", "fit");
$("place-target").onclick = () => send("pitcher", "place_target", { distance: Number($("target").value) });

$("play").onclick = () => send("crawler", "continue");
$("pause").onclick = () => send("crawler", "pause");
$("reset").onclick = () => { crawlerMode = null; send("crawler", "reset"); };
document.querySelectorAll("input[name=explore]").forEach((el) => { el.onchange = () => send("crawler", "epsilon_update", { exploration: el.value }); });
$("foresight").onchange = () => send("crawler", "think_future_update", { foresight: $("foresight").checked });
$("wait").onchange = () => send("crawler", "wait_before_next_move_update", { wait: $("wait").checked });

showTab(currentTab);
applyLanguage();
connect().catch((e) => toast(e.message));
