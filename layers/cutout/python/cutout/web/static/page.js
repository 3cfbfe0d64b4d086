// Cutout's page: sends photos to the remove.bg-compatible route of this same server
// (v1.0/removebg, relative so that a stage path is kept) one at a time, and shows
// each result over a checkerboard beside the original.
"use strict";

const KEY_STORAGE = "cutout.apiKey";
const $ = (selector) => document.querySelector(selector);
const queue = [];
let running = false;
let done = 0;
let total = 0;

function apiKey() {
  return $("#key").value.trim();
}

function headers(extra = {}) {
  const key = apiKey();
  return key ? { "X-Api-Key": key, ...extra } : extra;
}

// The API's own words: remove.bg's {"errors": [{title, code, detail}]} or {"detail": ...}.
async function apiError(response) {
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  const first = body && Array.isArray(body.errors) && body.errors[0];
  if (first) return `${first.title}: ${first.detail} (${first.code}, HTTP ${response.status})`;
  if (body && typeof body.detail === "string") return `${body.detail} (HTTP ${response.status})`;
  return `HTTP ${response.status} ${response.statusText}`;
}

async function showAccount() {
  const line = $("#account");
  try {
    const response = await fetch("v1/account", { headers: headers() });
    if (!response.ok) { line.textContent = await apiError(response); line.classList.add("error"); return; }
    const report = await response.json();
    const credits = report.usage.credits_remaining;
    line.classList.remove("error");
    line.textContent = `Account ${report.account} on the ${report.plan} plan: ` +
      `${report.rate_limit.remaining} of ${report.limits.megapixels_per_minute} megapixels left this minute, ` +
      (credits === null ? "no monthly credit limit" : `${credits} credits left this month`) +
      ` (${report.usage.calls} images this month).`;
  } catch (err) {
    line.textContent = `Cannot reach the server: ${err.message}`;
    line.classList.add("error");
  }
}

function chosenProduct() {
  const product = document.querySelector("input[name=product]:checked").value;
  const fields = { size: "full", format: "png" };
  if (product === "mask") fields.channels = "alpha";
  if (product === "shadow") fields.shadow_type = "drop";
  if (product === "color") fields.bg_color = $("#bg-color").value.replace("#", "");
  if ($("#crop").checked) fields.crop = "true";
  return { product, fields };
}

function baseName(name) {
  const stem = (name || "image").replace(/[?#].*$/, "").split("/").pop().replace(/\.[^.]*$/, "");
  return stem || "image";
}

function addCard(name, originalUrl) {
  const card = $("#result-template").content.firstElementChild.cloneNode(true);
  card.querySelector(".name").textContent = name;
  card.querySelector(".before").src = originalUrl;
  $("#results").prepend(card);
  return card;
}

function updateProgress() {
  const box = $("#progress-box");
  box.hidden = total === 0;
  $("#progress").max = Math.max(total, 1);
  $("#progress").value = done;
  $("#progress-text").textContent = done < total
    ? `Processing ${done + 1} of ${total}…` : `Done: ${done} of ${total}.`;
}

function enqueue(job) {
  job.card = addCard(job.name, job.originalUrl);
  queue.push(job);
  total += 1;
  updateProgress();
  if (!running) runQueue();
}

async function runQueue() {
  running = true;
  while (queue.length) {
    await process(queue.shift());
    done += 1;
    updateProgress();
  }
  running = false;
  showAccount();
}

function showResult(card, blob, response, seconds, job) {
  const url = URL.createObjectURL(blob);
  const after = card.querySelector(".after");
  const before = card.querySelector(".before");
  const width = response.headers.get("X-Width");
  const height = response.headers.get("X-Height");
  const charged = response.headers.get("X-Credits-Charged");
  after.src = url;
  card.querySelector(".caption").textContent =
    `${width} × ${height} px, ${(blob.size / 1024).toFixed(1)} KB, ${seconds.toFixed(2)} s` +
    (charged ? `, ${charged} credit${charged === "1" ? "" : "s"}` : "");
  const link = card.querySelector(".download");
  link.href = url;
  link.download = `${baseName(job.name)}.${job.product === "mask" ? "mask" : "cutout"}.png`;
  link.hidden = false;
  card.dataset.state = "done";
  // The before/after slider, when the result has the original's size (no crop).
  const sameSize = () => before.naturalWidth === Number(width) && before.naturalHeight === Number(height);
  const offerSlider = () => {
    if (!sameSize()) return;
    const overlay = card.querySelector(".overlay");
    overlay.src = before.src;
    overlay.hidden = false;
    const slider = card.querySelector(".slider");
    slider.hidden = false;
    slider.querySelector("input").addEventListener("input", (event) => {
      card.querySelector(".compare").style.setProperty("--reveal", `${event.target.value}%`);
    });
  };
  if (before.complete) offerSlider(); else before.addEventListener("load", offerSlider, { once: true });
}

async function process(job) {
  const { card } = job;
  card.dataset.state = "working";
  const form = new FormData();
  for (const [name, value] of Object.entries(job.fields)) form.append(name, value);
  if (job.file) form.append("image_file", job.file, job.name);
  else form.append("image_url", job.url);
  const started = performance.now();
  try {
    // Accept: the image; JSON only comes back when asked for it alone.
    const response = await fetch("v1.0/removebg", { method: "POST", body: form, headers: headers({ Accept: "image/*" }) });
    if (!response.ok) throw new Error(await apiError(response));
    const blob = await response.blob();
    showResult(card, blob, response, (performance.now() - started) / 1000, job);
  } catch (err) {
    card.dataset.state = "error";
    card.querySelector(".caption").textContent = "Failed";
    const box = card.querySelector(".error");
    box.textContent = err.message;
    box.hidden = false;
  }
}

function notAnImage(file) {
  // Said on its own card, and nothing is sent: a video or a document would only be refused.
  const card = addCard(file.name, "");
  card.querySelector(".before").hidden = true;
  card.dataset.state = "error";
  card.querySelector(".caption").textContent = "Not sent";
  const box = card.querySelector(".error");
  box.textContent = `${file.name} is not an image (${file.type}); nothing was sent.`;
  box.hidden = false;
}

function addFiles(files) {
  const { product, fields } = chosenProduct();
  for (const file of files) {
    if (!file.type.startsWith("image/") && file.type !== "") { notAnImage(file); continue; }
    enqueue({ name: file.name || "pasted image", file, product, fields,
              originalUrl: URL.createObjectURL(file) });
  }
}

function addUrl(url) {
  const { product, fields } = chosenProduct();
  enqueue({ name: url, url, product, fields, originalUrl: url });
}

function setUp() {
  const key = $("#key");
  key.value = localStorage.getItem(KEY_STORAGE) || "";
  const saveKey = () => {
    if (apiKey()) localStorage.setItem(KEY_STORAGE, apiKey()); else localStorage.removeItem(KEY_STORAGE);
    showAccount();
  };
  $("#key-save").addEventListener("click", saveKey);
  key.addEventListener("change", saveKey);

  const drop = $("#drop");
  const picker = $("#files");
  drop.addEventListener("click", () => picker.click());
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); picker.click(); }
  });
  picker.addEventListener("change", () => { addFiles(picker.files); picker.value = ""; });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    addFiles(event.dataTransfer.files);
  });
  document.addEventListener("paste", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.type !== "file") return; // typing in a field
    const files = [...(event.clipboardData?.files || [])];
    if (files.length) { event.preventDefault(); addFiles(files); return; }
    const text = event.clipboardData?.getData("text") || "";
    if (/^https?:\/\//i.test(text.trim())) { event.preventDefault(); addUrl(text.trim()); }
  });
  $("#url-form").addEventListener("submit", (event) => {
    event.preventDefault();
    addUrl($("#url").value.trim());
  });
  showAccount();
}

setUp();
