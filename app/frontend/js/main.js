// Wires the page: everything it checks or offers comes from /api/config first.

import { fetchConfig, rerunImage, uploadUnlessKnown } from "./api.js";
import { announce } from "./announcer.js";
import { Gallery } from "./gallery.js";
import { fileProblem, formatBytes, formatList, mediaTypes } from "./limits.js";
import { describeParams, fileInfo, rememberName } from "./names.js";
import { Preview } from "./preview.js";
import { Settings } from "./settings.js";
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

const viewer = new Viewer();
const uploads = new UploadList(byId("uploads"), fileInput);
const gallery = new Gallery({
  list: byId("gallery"),
  emptyNote: byId("gallery-empty"),
  loadMoreButton: byId("load-more"),
  heading: byId("gallery-title"),
  onError: showMessage,
  onRerun: rerun,
  onOpen: (item, opener) => viewer.open(item, fileInfo(item).name, opener),
  onDeleted: (item, newest) => preview?.imageDeleted(item, newest),
});
let config = null;
let settings = null;
let preview = null;

// Files chosen, dropped or pasted before the config has arrived wait for it.
async function uploadFiles(files) {
  if (!(await ready)) return;
  showMessage("");
  const params = settings.read();
  for (const file of files) {
    const name = file.name || "pasted image";
    const problem = fileProblem(file, config);
    if (problem) {
      uploads.reject(name, file.size, problem);
      continue;
    }
    uploads
      .add(name, file.size, (onProgress) => uploadUnlessKnown(file, name, params, onProgress))
      .then((item) => {
        rememberName(item.id, name, file.size);
        preview.select(item);
        const state = item.cached ? "was already done" : "is ready";
        gallery.showResult(item, { message: `${name} ${state}: ${describeParams(item.params)}.` });
      })
      .catch(() => {}); // the row already shows why, and the announcer said it
  }
}

async function rerun(item) {
  const params = settings.read();
  const { name, bytes } = fileInfo(item);
  try {
    const result = await rerunImage(item.id, params);
    rememberName(result.id, name, bytes);
    preview.select(item);
    gallery.showResult(result, { focus: true, message: `Re-run of ${name} ready: ${describeParams(params)}.` });
  } catch (error) {
    showMessage(`Could not re-run ${name}: ${error.message}`);
  }
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
  preview = new Preview({ settings, gallery, onError: showMessage });
  gallery.loadMore().then(() => {
    const newest = gallery.newest();
    if (newest && !preview.source) preview.select(newest);
  });
  return true;
}

const ready = start();
wireDropZone();
