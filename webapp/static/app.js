// The upload page: send images, then wait for each result with a long poll and draw its boxes.
"use strict";

const results = document.getElementById("results");
const message = document.getElementById("message");

async function upload(files) {
  message.textContent = "";
  const form = new FormData();
  const previews = new Map();
  for (const file of files) {
    form.append("files", file, file.name);
    previews.set(file.name, URL.createObjectURL(file));
  }
  const model = document.getElementById("model").value;
  if (model) form.append("model", model);
  const response = await fetch("/api/v1/images", {method: "POST", body: form});
  const body = await response.json();
  if (!response.ok) {
    const retry = response.headers.get("Retry-After");
    message.textContent = body.detail + (retry ? ` (retry in ${retry} s)` : "");
    return;
  }
  for (const request of body.requests) {
    const card = newCard(request.filename, previews.get(request.filename));
    results.prepend(card);
    waitFor(request.request_id, card);
  }
}

function newCard(name, src) {
  const card = document.getElementById("card").content.firstElementChild.cloneNode(true);
  card.querySelector(".name").textContent = name;
  if (src) card.querySelector("img").src = src;
  return card;
}

async function waitFor(id, card) {
  for (;;) {
    const response = await fetch(`/api/v1/results/${id}?wait=30`);
    if (response.ok) {
      show(await response.json(), card);
      return search(document.getElementById("label").value.trim());
    }
    if (response.status !== 404) {
      card.querySelector(".state").textContent = `error ${response.status}`;
      return;
    }
  }
}

function show(doc, card) {
  card.dataset.status = doc.status;
  const state = card.querySelector(".state");
  if (doc.status !== "ok") {
    state.textContent = `error: ${doc.error}`;
    return;
  }
  state.textContent = doc.detections.length ? "" : "nothing found";
  const list = card.querySelector(".labels");
  list.replaceChildren(...doc.detections.map(d => {
    const item = document.createElement("li");
    item.textContent = `${d.label} ${(d.confidence * 100).toFixed(0)}%`;
    return item;
  }));
  const t = doc.timings_ms || {};
  const spent = Object.entries(t).filter(([, v]) => v != null).map(([k, v]) => `${k} ${Math.round(v)} ms`);
  const route = doc.routing ? ` — ${doc.routing.reason}` : "";
  card.querySelector(".meta").textContent = `served by ${doc.pool} (${doc.worker}); ${spent.join(", ")}${route}`;
  const img = card.querySelector("img");
  if (!img.getAttribute("src")) img.src = `/api/v1/images/${doc.image_key}`;
  const draw = () => drawBoxes(card.querySelector("canvas"), img, doc);
  if (img.complete && img.naturalWidth) draw(); else img.addEventListener("load", draw, {once: true});
}

function drawBoxes(canvas, img, doc) {
  canvas.width = img.clientWidth;
  canvas.height = img.clientHeight;
  const sx = img.clientWidth / doc.image.width, sy = img.clientHeight / doc.image.height;
  const g = canvas.getContext("2d");
  g.lineWidth = 2;
  g.font = "12px sans-serif";
  for (const d of doc.detections) {
    if (!d.box) continue;
    const [x, y, w, h] = [d.box.x * sx, d.box.y * sy, d.box.w * sx, d.box.h * sy];
    g.strokeStyle = g.fillStyle = "#e4572e";
    g.strokeRect(x, y, w, h);
    g.fillText(d.label, x + 3, Math.max(12, y - 3));
  }
}

async function search(label) {
  const response = await fetch(`/api/v1/results?limit=24${label ? "&label=" + encodeURIComponent(label) : ""}`);
  const body = await response.json();
  const history = document.getElementById("history");
  history.replaceChildren(...body.results.map(doc => {
    const card = newCard(doc.filename || doc.image_key.split("/").pop(), null);
    show(doc, card);
    return card;
  }));
  if (!body.results.length) history.textContent = label ? `no results with "${label}" yet` : "no results yet";
}

const drop = document.getElementById("drop");
document.getElementById("files").addEventListener("change", e => upload([...e.target.files]));
drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", e => { e.preventDefault(); drop.classList.remove("over"); upload([...e.dataTransfer.files]); });
document.getElementById("search").addEventListener("submit", e => { e.preventDefault(); search(document.getElementById("label").value.trim()); });
// The models a request may name: each repository model by name (its latest version) and by version.
async function loadModels() {
  const response = await fetch("/api/v1/models");
  if (!response.ok) return;
  const body = await response.json();
  const select = document.getElementById("model");
  select.options[0].textContent = `the workers' default (${body.default})`;
  for (const m of body.models.filter(m => m.source === "repository")) {
    if (m.latest) select.add(new Option(`${m.name} (latest: ${m.version})`, m.name));
    select.add(new Option(`${m.ref}`, m.ref));
  }
}

search("");
loadModels();
