/**
 * The dashboard: one self-contained page (no build step, no CDN, works offline)
 * that polls the management API once a second and draws its own charts on a
 * canvas. Its publish/subscribe console speaks MQTT 3.1.1 over the broker's
 * WebSocket listener with a minimal client written here.
 *
 * @module
 */

const STYLE = `
body{font:14px system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:baseline}
header h1{font-size:18px;margin:0} main{padding:16px 20px;display:grid;gap:16px;grid-template-columns:1fr 1fr}
section{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px #0002} section.wide{grid-column:1/3}
h2{font-size:15px;margin:0 0 8px} .cards{display:flex;gap:12px;flex-wrap:wrap}
.card{min-width:110px} .card b{display:block;font-size:22px} table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:3px 6px;border-bottom:1px solid #eee;font-size:13px} canvas{width:100%;height:160px}
input,select,button{font:inherit;padding:3px 6px} #log{height:120px;overflow:auto;background:#f5f6f8;font:12px monospace;padding:4px}
`;

const SCRIPT = String.raw`
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
if (params.get("token")) sessionStorage.setItem("token", params.get("token"));
const headers = () => sessionStorage.getItem("token") ? { authorization: "Bearer " + sessionStorage.getItem("token") } : {};
const api = async (path, init = {}) => {
  const res = await fetch(path, { ...init, headers: { ...headers(), ...(init.headers || {}) } });
  if (!res.ok && res.status !== 204) throw new Error(path + ": " + res.status);
  return res.status === 204 ? null : res.json();
};
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
let overview = null;

function draw(canvas, series, colors) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width = canvas.clientWidth * devicePixelRatio, h = canvas.height = canvas.clientHeight * devicePixelRatio;
  ctx.clearRect(0, 0, w, h);
  const max = Math.max(1, ...series.flat());
  ctx.fillStyle = "#667"; ctx.font = 11 * devicePixelRatio + "px sans-serif";
  ctx.fillText(Math.round(max) + "/s", 4, 12 * devicePixelRatio);
  series.forEach((points, i) => {
    ctx.strokeStyle = colors[i]; ctx.lineWidth = 2 * devicePixelRatio; ctx.beginPath();
    points.forEach((v, x) => {
      const px = (x / 59) * w, py = h - (v / max) * (h - 16 * devicePixelRatio);
      x === 0 ? ctx.moveTo(px, py) : ctx.lineTo(px, py);
    });
    ctx.stroke();
  });
}

async function refresh() {
  try {
    overview = await api("/api/v1/overview");
  } catch (e) { $("status").textContent = e.message; return; }
  const o = overview;
  $("status").textContent = "live · up " + o.uptimeSeconds + " s · v" + o.version;
  const last = o.rates[o.rates.length - 1] || { received: 0, sent: 0 };
  const cards = { connected: o.clients.connected, sessions: o.clients.sessions, "msgs in/s": Math.round(last.received),
    "msgs out/s": Math.round(last.sent), received: o.messages.received, sent: o.messages.sent, dropped: o.messages.dropped,
    inflight: o.messages.inflight, queued: o.messages.queued, subscriptions: o.subscriptions, retained: o.retained,
    "loop delay ms": o.eventLoopDelayMs.toFixed(1), "heap MiB": (o.memory.heapUsed / 1048576).toFixed(1) };
  $("cards").innerHTML = Object.entries(cards).map(([k, v]) => '<div class="card">' + esc(k) + '<b data-stat="' + esc(k) + '">' + esc(v) + "</b></div>").join("");
  draw($("rates"), [o.rates.map((p) => p.received), o.rates.map((p) => p.sent)], ["#2b7de9", "#1aa872"]);
  $("topics").innerHTML = o.topTopics.map((t) => "<tr><td>" + esc(t.topic) + "</td><td>" + t.rate.toFixed(1) + "/s</td></tr>").join("") || "<tr><td>no traffic</td></tr>";
  $("listeners").innerHTML = o.listeners.map((l) => "<tr><td>" + esc(l.name) + "</td><td>" + esc(l.type) + "</td><td>" + l.connections + "</td></tr>").join("");
  await refreshClients();
}

async function refreshClients() {
  const q = encodeURIComponent($("search").value);
  const list = await api("/api/v1/clients?limit=50&q=" + q);
  $("clients").innerHTML = list.items.map((c) => '<tr data-client="' + esc(c.clientId) + '"><td>' + esc(c.clientId) + "</td><td>" +
    esc(c.address || "offline") + "</td><td>" + c.protocol + "</td><td>" + (c.keepAlive ?? "") + "</td><td>" + c.inflight + "</td><td>" + c.queued +
    "</td><td>" + c.subscriptions + "</td><td>" + (c.connected ? '<button class="kick">disconnect</button>' : "") + "</td></tr>").join("");
  $("clientcount").textContent = list.total + " sessions";
}

$("clients").addEventListener("click", async (e) => {
  if (!e.target.classList.contains("kick")) return;
  const id = e.target.closest("tr").dataset.client;
  await api("/api/v1/clients/" + encodeURIComponent(id), { method: "DELETE" });
  await refreshClients();
});
$("search").addEventListener("input", refreshClients);

$("browse").addEventListener("click", async () => {
  const kind = $("kind").value, arg = encodeURIComponent($("filter").value || (kind === "retained" ? "#" : ""));
  const list = await api(kind === "retained" ? "/api/v1/retained?topic=" + arg : "/api/v1/subscriptions" + (arg ? "?topic=" + arg : ""));
  $("browser").innerHTML = list.items.map((i) => kind === "retained"
    ? "<tr><td>" + esc(i.topic) + "</td><td>" + esc(i.payloadText ?? "(binary, " + i.size + " B)") + "</td><td>QoS " + i.qos + "</td></tr>"
    : "<tr><td>" + esc(i.clientId) + "</td><td>" + esc(i.filter) + "</td><td>QoS " + i.qos + "</td></tr>").join("") || "<tr><td>nothing</td></tr>";
});

// A minimal MQTT 3.1.1 client over WebSocket: CONNECT, SUBSCRIBE, PUBLISH (QoS 0), PINGREQ.
const te = new TextEncoder(), td = new TextDecoder();
const str = (s) => { const b = te.encode(s); return [b.length >> 8, b.length & 255, ...b]; };
const packet = (type, body) => {
  const len = []; let n = body.length;
  do { let d = n % 128; n = Math.floor(n / 128); len.push(n > 0 ? d | 128 : d); } while (n > 0);
  return new Uint8Array([type, ...len, ...body]);
};
let ws = null, pending = new Uint8Array(0), ping = null;
const log = (line) => { $("log").textContent += line + "\n"; $("log").scrollTop = 1e9; };
function onBytes(bytes) {
  const all = new Uint8Array(pending.length + bytes.length); all.set(pending); all.set(bytes, pending.length);
  let i = 0;
  while (i < all.length) {
    let mul = 1, len = 0, j = i + 1, d;
    do { if (j >= all.length) { pending = all.slice(i); return; } d = all[j++]; len += (d & 127) * mul; mul *= 128; } while (d & 128);
    if (j + len > all.length) break;
    const type = all[i] >> 4, body = all.subarray(j, j + len);
    if (type === 2) log(body[1] === 0 ? "connected" : "refused: " + body[1]);
    if (type === 3) { const tl = (body[0] << 8) | body[1]; const qos = (all[i] >> 1) & 3;
      log(td.decode(body.subarray(2, 2 + tl)) + "  " + td.decode(body.subarray(2 + tl + (qos ? 2 : 0)))); }
    i = j + len;
  }
  pending = all.slice(i);
}
$("connect").addEventListener("click", () => {
  const l = overview && overview.listeners.find((x) => x.type === "ws");
  if (!l) { log("no ws listener configured"); return; }
  ws = new WebSocket("ws://" + location.hostname + ":" + l.port + (l.path || "/mqtt"), ["mqtt"]);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    ws.send(packet(0x10, [...str("MQTT"), 4, 2, 0, 60, ...str("dashboard-" + Math.random().toString(36).slice(2, 8))]));
    ping = setInterval(() => ws.send(packet(0xc0, [])), 30000);
  };
  ws.onmessage = (e) => onBytes(new Uint8Array(e.data));
  ws.onclose = () => { clearInterval(ping); log("closed"); };
});
let pid = 1;
$("sub").addEventListener("click", () => ws && ws.send(packet(0x82, [0, pid++ & 255 || 1, ...str($("subtopic").value), 0])));
$("pub").addEventListener("click", () => ws && ws.send(packet(0x30, [...str($("pubtopic").value), ...te.encode($("payload").value)])));

refresh();
setInterval(refresh, 1000);
`;

/** The whole page. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MQTT broker dashboard</title><link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${STYLE}</style></head>
<body><header><h1>MQTT broker</h1><span id="status">connecting…</span></header>
<main>
<section class="wide"><h2>Overview</h2><div class="cards" id="cards"></div></section>
<section><h2>Messages per second <small>(blue in, green out, last 60 s)</small></h2><canvas id="rates"></canvas></section>
<section><h2>Top topics</h2><table><tbody id="topics"></tbody></table>
<h2 style="margin-top:12px">Listeners</h2><table><thead><tr><th>name</th><th>type</th><th>clients</th></tr></thead><tbody id="listeners"></tbody></table></section>
<section class="wide"><h2>Clients <small id="clientcount"></small></h2><input id="search" placeholder="search client id">
<table><thead><tr><th>client id</th><th>address</th><th>protocol</th><th>keep-alive</th><th>in-flight</th><th>queued</th><th>subs</th><th></th></tr></thead>
<tbody id="clients"></tbody></table></section>
<section><h2>Browse</h2><select id="kind"><option value="subscriptions">subscriptions matching topic</option><option value="retained">retained matching filter</option></select>
<input id="filter" placeholder="topic or filter"> <button id="browse">show</button><table><tbody id="browser"></tbody></table></section>
<section><h2>Console (MQTT over WebSocket)</h2><button id="connect">connect</button>
<input id="subtopic" value="#" size="10"><button id="sub">subscribe</button><br>
<input id="pubtopic" value="dashboard/test" size="14"><input id="payload" value="hello" size="10"><button id="pub">publish</button>
<pre id="log"></pre></section>
</main><script>${SCRIPT}</script></body></html>`;
