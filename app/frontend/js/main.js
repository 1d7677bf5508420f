// Wires the page: everything it checks or offers comes from /api/config first.

import { UploadCancelled, fetchConfig, rerunImage, uploadUnlessKnown } from "./api.js";
import { announce } from "./announcer.js";
import { Gallery } from "./gallery.js";
import { fileProblem, formatBytes, formatList, mediaTypes } from "./limits.js";
import { describeParams, fileInfo, rememberName } from "./names.js";
import { Preview } from "./preview.js";
import { Settings } from "./settings.js";
import { UndoBar } from "./undo.js";
import { UploadList } from "./uploads.js";
import { Viewer } from "./viewer.js";

const byId = (id) => document.getElementById(id);
const message = byId("message");
const fileInput = byId("file-input");

function showMessage(text) {
  message.textContent = text;
  message.hidden = !text;
  if (text) announce(text);
}

const uploads = new UploadList(byId("uploads"), fileInput);
const gallery = new Gallery({
  list: byId("gallery"),
  emptyNote: byId("gallery-empty"),
  loadMoreButton: byId("load-more"),
  heading: byId("gallery-title"),
  undoBar: new UndoBar(),
  onError: showMessage,
  onRerun: rerun,
  onOpen: (item, opener) => viewer.open(item, opener),
  onDeleted: (item, newest) => preview?.imageDeleted(item, newest),
});
const viewer = new Viewer({ name: (item) => fileInfo(item).name, neighbour: (item, delta) => gallery.neighbour(item, delta) });
let config = null;
let settings = null;
let preview = null;

// "8 done, 1 refused": one polite sentence per batch, not one per file. Cancellations
// were announced when the user cancelled; a batch of only those says nothing more.
function batchSummary(outcomes) {
  const count = (kind) => outcomes.filter((outcome) => outcome === kind).length;
  const parts = ["done", "already done", "refused"]
    .filter((kind) => count(kind) > 0)
    .map((kind) => `${count(kind)} ${kind}`);
  return parts.length ? `${parts.join(", ")}.` : "";
}

// Files chosen, dropped or pasted before the config has arrived wait for it. Finished
// uploads join the gallery without moving the page or the focus.
async function uploadFiles(files) {
  if (!(await ready)) return;
  showMessage("");
  const params = settings.read();
  const outcomes = files.map((file) => {
    const name = file.name || "pasted image";
    const problem = fileProblem(file, config);
    if (problem) {
      uploads.reject(name, file.size, problem);
      return "refused";
    }
    return uploads
      .add(name, file.size, (onProgress) => uploadUnlessKnown(file, name, params, onProgress))
      .then((item) => {
        rememberName(item.id, name, file.size);
        preview.select(item);
        gallery.showResult(item);
        return item.cached ? "already done" : "done";
      })
      .catch((error) => (error instanceof UploadCancelled ? "cancelled" : "refused"));
  });
  const summary = batchSummary(await Promise.all(outcomes));
  if (summary) announce(summary);
}

// Re-run and Keep store a result; its card takes focus, which brings it into view.
async function storeResult(source, params, { rerun = false } = {}) {
  const { name, bytes } = fileInfo(source);
  const message = rerun
    ? `Re-run of ${name} ready: ${describeParams(params)}.`
    : `${name} kept with ${describeParams(params)}.`;
  try {
    const result = await rerunImage(source.id, params);
    rememberName(result.id, name, bytes);
    gallery.showResult(result, { focus: true, message });
    return result;
  } catch (error) {
    showMessage(`Could not keep ${name} with these settings: ${error.message}`);
    return null;
  }
}

async function rerun(item) {
  const result = await storeResult(item, settings.read(), { rerun: true });
  if (result) preview.select(result);
}

function wireDropZone() {
  const zone = byId("drop-zone");
  fileInput.addEventListener("change", () => {
    uploadFiles([...fileInput.files]);
    fileInput.value = "";
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
  // Images copied elsewhere (a screenshot, a browser's "Copy image") upload on paste.
  document.addEventListener("paste", (event) => {
    const files = [...(event.clipboardData?.files ?? [])];
    if (files.length === 0) return;
    event.preventDefault();
    uploadFiles(files);
  });
}

// Resolves to true once the controls are built from the config, false if it never came.
async function start() {
  try {
    config = await fetchConfig();
  } catch (error) {
    showMessage(`Could not load the upload settings: ${error.message}`);
    byId("limits").textContent = "Uploads are unavailable until the server answers.";
    return false;
  }
  fileInput.accept = mediaTypes(config).join(",");
  byId("limits").textContent = `${formatList(config)}, up to ${formatBytes(config.max_upload_bytes)} each.`;
  settings = new Settings(config, () => preview.settingsChanged());
  gallery.defaults = settings.defaults();
  preview = new Preview({ settings, onKeep: storeResult });
  gallery.loadMore().then(() => {
    const newest = gallery.newest();
    if (newest && !preview.source) preview.select(newest);
  });
  return true;
}

const ready = start();
wireDropZone();
