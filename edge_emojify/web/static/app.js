// The operator's page: status every second, the controls as POSTs with the CSRF value, and the
// mood history drawn on a canvas. Plain JavaScript, nothing loaded from elsewhere.

const COLOURS = { angry: "#e62828", disgust: "#3ca03c", fear: "#a05aaa", happy: "#ffd200",
                  sad: "#2878c8", surprise: "#ff8c00", neutral: "#b4b4b4" };
let csrf = "";
let privacy = false;

const $ = (id) => document.getElementById(id);

function say(text) { $("said").textContent = text; }

function duration(seconds) {
  const h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = Math.floor(seconds % 60);
  return h ? `${h} h ${m} min` : m ? `${m} min ${s} s` : `${s} s`;
}

function showStatus(s) {
  csrf = s.csrf;
  privacy = !!s.privacy;
  $("s-mode").textContent = s.mode ?? "–";
  $("s-fps").textContent = s.fps != null ? `${s.fps.toFixed(1)} fps` : "–";
  $("s-faces").textContent = s.faces ?? "–";
  const cam = s.camera || {};
  $("s-camera").textContent = cam.state ? `${cam.state} (${cam.losses} lost, ${cam.retries} retries now)` : "–";
  $("s-uptime").textContent = s.uptime_s != null ? duration(s.uptime_s) : "–";
  const model = s.model || {};
  $("s-model").textContent = model.name ? `${model.name}, ${model.accuracy != null
    ? (model.accuracy * 100).toFixed(1) + " % on " + model.measured_on : "accuracy unknown"}` : "–";
  const heat = s.heat || {};
  $("s-heat").textContent = heat.celsius != null || (heat.throttled || []).length
    ? [heat.celsius != null ? `${heat.celsius.toFixed(0)} °C` : "", ...(heat.throttled || [])].filter(Boolean).join(", ")
    : "not measured here";
  $("s-streams").textContent = `${s.streams} of ${s.max_streams}`;
  const state = $("state");
  state.textContent = privacy ? "privacy" : cam.state === "ok" ? "running" : (cam.state || "starting");
  state.className = "pill " + (cam.state === "ok" && !privacy ? "ok" : "bad");
  $("privacy").textContent = privacy ? "Privacy off" : "Privacy on";
  $("privacy").dataset.action = privacy ? "privacy_off" : "privacy_on";
  $("live-note").textContent = privacy ? "Privacy mode: the screen and the stream are blank." : "";
  const select = $("mode");
  if (select.options.length !== (s.modes || []).length) {
    select.replaceChildren(...s.modes.map((m) => new Option(m, m)));
  }
  if (document.activeElement !== select) select.value = s.mode;
  $("snapshot").hidden = !s.snapshots;
  $("snapshots").hidden = !s.snapshots;
  const errors = $("s-errors");
  errors.replaceChildren(...(s.errors || []).slice().reverse().map((line) => {
    const li = document.createElement("li"); li.textContent = line; return li;
  }));
  if (!(s.errors || []).length) errors.replaceChildren(Object.assign(document.createElement("li"), { textContent: "none" }));
}

async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  if (r.status === 401) { location.href = "/login"; throw new Error("logged out"); }
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
}

async function refresh() {
  try { showStatus(await getJSON("/api/status")); } catch (e) { $("state").textContent = "offline"; }
}

async function act(action) {
  const r = await fetch("/api/action", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ action }),
  });
  say(r.ok ? `sent: ${action}` : `refused (${r.status}): ${await r.text()}`);
  setTimeout(refresh, 300);
  if (action === "snapshot") setTimeout(loadSnapshots, 1500);
}

function drawHistory(data) {
  const canvas = $("chart"), ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 24;
  ctx.clearRect(0, 0, w, h);
  const now = Date.now(), hours = [];
  for (let i = 23; i >= 0; i--) {
    const d = new Date(now - i * 3600e3);
    hours.push(d.toISOString().slice(0, 13) + ":00Z");
  }
  const byHour = Object.fromEntries(hours.map((hr) => [hr, {}]));
  for (const row of data.rows) if (byHour[row.hour]) byHour[row.hour][row.label] = row.count;
  const totals = hours.map((hr) => Object.values(byHour[hr]).reduce((a, b) => a + b, 0));
  const top = Math.max(1, ...totals), bw = (w - pad) / hours.length;
  ctx.fillStyle = "#777"; ctx.font = "11px sans-serif";
  ctx.fillText(String(top), 2, 12); ctx.fillText("0", 2, h - pad);
  hours.forEach((hr, i) => {
    let y = h - pad;
    for (const label of data.labels) {
      const n = byHour[hr][label] || 0;
      if (!n) continue;
      const bh = (n / top) * (h - pad - 16);
      ctx.fillStyle = COLOURS[label] || "#fff";
      ctx.fillRect(pad + i * bw + 1, y - bh, bw - 2, bh);
      y -= bh;
    }
    if (i % 6 === 0) { ctx.fillStyle = "#777"; ctx.fillText(new Date(hr).getHours() + ":00", pad + i * bw, h - 8); }
  });
  $("legend").replaceChildren(...data.labels.map((label) => {
    const span = document.createElement("span"), dot = document.createElement("i");
    dot.style.background = COLOURS[label] || "#fff"; span.append(dot, label); return span;
  }));
}

async function loadHistory() {
  try { drawHistory(await getJSON("/api/history")); } catch (e) { /* shown as an empty chart */ }
}

async function loadSnapshots() {
  try {
    const data = await getJSON("/api/snapshots");
    $("snapshot-list").replaceChildren(...data.files.slice(0, 10).map((name) => {
      const li = document.createElement("li"), a = document.createElement("a");
      a.href = `/snapshots/${encodeURIComponent(name)}`; a.textContent = name; a.download = name;
      li.append(a); return li;
    }));
  } catch (e) { /* none */ }
}

document.querySelectorAll("button[data-action]").forEach((b) => b.addEventListener("click", () => act(b.dataset.action)));
$("mode").addEventListener("change", (e) => act(`mode:${e.target.value}`));
$("live").addEventListener("error", () => {
  $("live-note").textContent = "Live view unavailable (too many viewers?); retrying…";
  setTimeout(() => { $("live").src = `/stream.mjpg?t=${Date.now()}`; }, 5000);
});

refresh().then(() => { loadHistory(); loadSnapshots(); });
setInterval(refresh, 1000);
setInterval(loadHistory, 60000);
