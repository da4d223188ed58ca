// The status page: the latest sample every 2 s, and a timeline of the last 10 minutes.
"use strict";

const COLOURS = ["#1f77b4", "#e4572e", "#2ca02c", "#9467bd"];

function cells(row, values) {
  row.replaceChildren(...values.map(v => { const td = document.createElement("td"); td.textContent = v; return td; }));
  return row;
}

function time(t) { return new Date(t * 1000).toLocaleTimeString(); }

function drawTimeline(history) {
  const canvas = document.getElementById("timeline");
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  if (history.length < 2) return;
  const pools = Object.keys(history[history.length - 1].pools);
  const t0 = history[0].t, t1 = history[history.length - 1].t;
  const queued = s => p => (s.pools[p] ? s.pools[p].waiting + s.pools[p].in_flight : 0);
  const top = Math.max(1, ...history.flatMap(s => pools.map(queued(s))));
  const topWorkers = Math.max(1, ...history.flatMap(s => pools.map(p => s.pools[p] ? s.pools[p].workers : 0)));
  const x = t => 40 + (canvas.width - 80) * (t - t0) / Math.max(1, t1 - t0);
  const y = (v, max) => canvas.height - 20 - (canvas.height - 40) * v / max;
  g.font = "11px sans-serif";
  g.fillStyle = "#555";
  g.fillText(String(top), 4, y(top, top) + 4);
  g.fillText("0", 4, y(0, top) + 4);
  g.fillText(String(topWorkers), canvas.width - 30, y(topWorkers, topWorkers) + 4);
  g.fillText(time(t0), 40, canvas.height - 4);
  g.fillText(time(t1), canvas.width - 100, canvas.height - 4);
  pools.forEach((p, i) => {
    g.strokeStyle = g.fillStyle = COLOURS[i % COLOURS.length];
    for (const [value, max, dash] of [[queued, top, []], [s => q => (s.pools[q] ? s.pools[q].workers : 0), topWorkers, [5, 4]]]) {
      g.setLineDash(dash);
      g.beginPath();
      history.forEach((s, n) => { const v = value(s)(p); n ? g.lineTo(x(s.t), y(v, max)) : g.moveTo(x(s.t), y(v, max)); });
      g.stroke();
    }
    g.setLineDash([]);
    g.fillText(p, 50 + i * 90, 14);
  });
}

async function refresh() {
  try {
    const response = await fetch("/api/v1/status?history=true");
    const body = await response.json();
    document.getElementById("updated").textContent = `sampled at ${time(body.t)}`;
    document.querySelector("#pools tbody").replaceChildren(...body.pools.map(p => cells(document.createElement("tr"), [
      p.pool, p.waiting, p.in_flight, p.delayed, p.dead_lettered, `${p.workers} (${p.busy_workers})`, p.served,
      `${Math.round(p.share * 100)}%`, p.service_ms ? Math.round(p.service_ms) : "-"])));
    drawTimeline(body.history || []);
    const scaler = body.autoscaler;
    document.getElementById("fleet").textContent = scaler
      ? `${scaler.provider} provider: desired ${scaler.desired}, running ${scaler.running.length}, pending ${scaler.pending.length} (boot ${scaler.boot_s} s)`
      : "no autoscaler has reported";
    document.querySelector("#decisions tbody").replaceChildren(...(scaler ? scaler.decisions.slice().reverse() : []).map(d =>
      cells(document.createElement("tr"), [time(d.t), d.desired, d.launch, d.terminate.length, d.reasons.join("; ")])));
  } catch (error) {
    document.getElementById("updated").textContent = `cannot reach the server (${error})`;
  }
}

async function refreshModels() {
  const response = await fetch("/api/v1/models");
  if (!response.ok) return;
  const body = await response.json();
  document.querySelector("#models tbody").replaceChildren(...body.models
    .filter(m => m.source !== "built-in" || m.served || m.name === body.default)
    .map(m => cells(document.createElement("tr"), [
      m.name + (m.name === body.default ? " (default)" : ""), m.version ? m.version + (m.latest ? " (latest)" : "") : "-",
      m.kind || "-", m.source, m.labels ?? "-", m.served])));
}

function counts(byKind) {
  return Object.entries(byKind).map(([kind, n]) => `${n} ${kind}`).join(", ") || "none";
}

async function refreshJobs() {
  const response = await fetch("/api/v1/jobs");
  if (!response.ok) return;
  const body = await response.json();
  document.querySelector("#jobs tbody").replaceChildren(...body.jobs.map(job => {
    const bar = document.createElement("progress");
    bar.max = Math.max(job.enqueued, 1);
    bar.value = job.done;
    bar.textContent = `${job.done} of ${job.enqueued}`;
    const row = cells(document.createElement("tr"), [job.name, job.source, job.finished_at ? "finished" : job.state,
      "", `${job.done} of ${job.enqueued}`, counts(job.errors), counts(job.skipped)]);
    row.children[3].append(bar);
    return row;
  }));
}

async function refreshUsage() {
  const response = await fetch("/api/v1/usage?days=1");
  if (!response.ok) return;
  const body = await response.json();
  document.querySelector("#usage tbody").replaceChildren(...body.owners.map(o => cells(document.createElement("tr"), [
    o.owner, o.images, counts(o.errors), o.cpu_s.toFixed(1), o.usd.toFixed(4),
    Object.entries(o.by_pool).map(([pool, n]) => `${pool} ${n}`).join(", ")])));
}

refresh();
refreshModels();
refreshJobs();
refreshUsage();
setInterval(refreshUsage, 60000);
setInterval(refresh, 2000);
setInterval(refreshModels, 10000);
setInterval(refreshJobs, 10000);
