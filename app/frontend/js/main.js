// Wires the page: limits from the gateway, file picker and drop zone, settings, gallery.

import { fetchLimits, fetchOriginal, uploadImage } from "./api.js";
import { Gallery } from "./gallery.js";
import { UploadList } from "./uploads.js";
import { DEFAULT_MAX_UPLOAD_BYTES, fileProblem, formatBytes, readSettings } from "./validation.js";

const byId = (id) => document.getElementById(id);
const message = byId("message");
const settingsInputs = [byId("low"), byId("high"), byId("blur")];
const uploads = new UploadList(byId("uploads"));
let maxUploadBytes = DEFAULT_MAX_UPLOAD_BYTES;

function showMessage(text) {
  message.textContent = text;
  message.hidden = !text;
}

function currentParams() {
  const settings = readSettings(...settingsInputs);
  for (const input of settingsInputs) input.removeAttribute("aria-invalid");
  if (settings.problem) {
    settings.field.setAttribute("aria-invalid", "true");
    settings.field.focus();
    showMessage(settings.problem);
    return null;
  }
  showMessage("");
  return settings.params;
}

const gallery = new Gallery({
  list: byId("gallery"),
  emptyNote: byId("gallery-empty"),
  loadMoreButton: byId("load-more"),
  heading: byId("gallery-title"),
  onError: showMessage,
  onRerun: rerun,
});

function send(blob, filename, label, params) {
  return uploads
    .add(label, (onProgress) => uploadImage(blob, filename, params, onProgress))
    .then((item) => gallery.showFirst(item))
    .catch(() => {}); // the row already shows why
}

function uploadFiles(files) {
  const params = currentParams();
  if (!params) return;
  for (const file of files) {
    const problem = fileProblem(file, maxUploadBytes);
    if (problem) uploads.reject(file.name, problem);
    else send(file, file.name, file.name, params);
  }
}

async function rerun(item) {
  const params = currentParams();
  if (!params) return;
  const shortId = item.id.slice(0, 8);
  let original;
  try {
    original = await fetchOriginal(item.original_url);
  } catch (error) {
    showMessage(`Could not fetch the original of ${shortId}: ${error.message}`);
    return;
  }
  const filename = item.original_url.split("/").pop();
  await send(original, filename, `Re-run of ${shortId} (low ${params.low}, high ${params.high}, blur ${params.blur})`, params);
}

function wireDropZone() {
  const zone = byId("drop-zone");
  const input = byId("file-input");
  input.addEventListener("change", () => {
    uploadFiles([...input.files]);
    input.value = "";
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  // A file dropped beside the zone must not make the browser navigate away to it.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    uploadFiles([...event.dataTransfer.files]);
  });
}

async function loadLimits() {
  try {
    maxUploadBytes = (await fetchLimits()).max_upload_bytes;
  } catch {
    // keep the default; the gateway and backend still enforce the real limit
  }
  byId("limits").textContent = `PNG, JPEG, WebP, BMP or TIFF, up to ${formatBytes(maxUploadBytes)} each.`;
}

wireDropZone();
loadLimits();
gallery.loadMore();
