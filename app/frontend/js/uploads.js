// One row per upload: name, size, percentage and Cancel; a few uploads run at a time.

import { UploadCancelled } from "./api.js";
import { announce } from "./announcer.js";
import { labelledButton } from "./controls.js";
import { formatBytes } from "./limits.js";

const PARALLEL_UPLOADS = 2;
const DONE_ROW_LIFETIME_MS = 4000;
const RATE_LIMIT_ATTEMPTS = 4;
const RATE_LIMIT_WAIT_MS = 1500;
const percent = new Intl.NumberFormat(undefined, { style: "percent" });

export class UploadList {
  constructor(listElement, fallbackFocus) {
    this.list = listElement;
    this.fallbackFocus = fallbackFocus;
    this.running = 0;
    this.waiting = [];
  }

  // A file refused before upload still gets a row, so its reason is read next to its name.
  // Nothing is announced per file: the page announces each batch once.
  reject(name, bytes, problem) {
    this.#fail(this.#row(name, bytes), problem);
  }

  // start(onProgress) begins the upload and returns {done, cancel}.
  add(name, bytes, start) {
    const row = this.#row(name, bytes);
    row.status.textContent = "Waiting…";
    return new Promise((resolve, reject) => {
      const job = { row, start, resolve, reject, cancel: null, cancelled: false };
      row.cancelButton.addEventListener("click", () => this.#cancel(job));
      this.waiting.push(job);
      this.#next();
    });
  }

  #next() {
    if (this.running >= PARALLEL_UPLOADS || this.waiting.length === 0) return;
    this.running += 1;
    this.#attempt(this.waiting.shift(), 1);
  }

  #attempt(job, attempt) {
    if (job.cancelled) return; // cancelled while waiting to retry
    const { row } = job;
    row.status.textContent = "Uploading…";
    const upload = job.start((fraction) => this.#progress(row, fraction));
    job.cancel = upload.cancel;
    upload.done
      .then((result) => {
        this.#progress(row, 1);
        row.status.textContent = result.cached ? "Done (already computed)" : "Done";
        row.element.classList.add("done");
        this.#removeCancel(row);
        setTimeout(() => row.element.remove(), DONE_ROW_LIFETIME_MS);
        job.resolve(result);
        this.#finished();
      })
      .catch((error) => {
        if (error instanceof UploadCancelled) return; // #cancel has tidied up
        // The gateway limits uploads per address; many files at once wait their turn.
        if (error.status === 429 && attempt < RATE_LIMIT_ATTEMPTS) {
          this.#progress(row, 0);
          row.status.textContent = "Server busy, retrying shortly…";
          setTimeout(() => this.#attempt(job, attempt + 1), RATE_LIMIT_WAIT_MS * attempt);
          return;
        }
        this.#fail(row, error.message);
        job.reject(error);
        this.#finished();
      });
  }

  #cancel(job) {
    job.cancelled = true;
    const queued = this.waiting.indexOf(job);
    if (queued >= 0) this.waiting.splice(queued, 1);
    else if (job.cancel) {
      job.cancel();
      this.#finished();
    }
    this.#removeRow(job.row);
    announce(`Upload of ${job.row.name} cancelled.`);
    job.reject(new UploadCancelled("Cancelled"));
  }

  #finished() {
    this.running -= 1;
    this.#next();
  }

  #progress(row, fraction) {
    row.progress.value = fraction;
    row.percent.textContent = percent.format(fraction);
    if (fraction >= 1) row.status.textContent = "Finding edges…";
  }

  #row(name, bytes) {
    const element = document.createElement("li");
    element.className = "upload-row";
    const label = document.createElement("span");
    label.className = "upload-name";
    label.textContent = name;
    const size = document.createElement("span");
    size.className = "upload-size";
    size.textContent = formatBytes(bytes);
    const progress = document.createElement("progress");
    progress.max = 1;
    progress.value = 0;
    progress.setAttribute("aria-label", `Upload progress of ${name}`);
    const percentText = document.createElement("span");
    percentText.className = "upload-percent";
    percentText.textContent = percent.format(0);
    const status = document.createElement("span");
    status.className = "upload-status";
    const cancelButton = labelledButton("Cancel", name, "button small");
    element.append(label, size, progress, percentText, status, cancelButton);
    this.list.append(element);
    return { element, name, progress, percent: percentText, status, cancelButton };
  }

  #removeCancel(row) {
    if (row.cancelButton.contains(document.activeElement)) this.#focusAfter(row);
    row.cancelButton.remove();
  }

  #fail(row, message) {
    const hadFocus = row.cancelButton.contains(document.activeElement);
    row.element.classList.add("failed");
    row.progress.remove();
    row.percent.remove();
    row.cancelButton.remove();
    row.status.textContent = message;
    const dismiss = labelledButton("Dismiss", row.name, "button small");
    dismiss.addEventListener("click", () => this.#removeRow(row));
    row.element.append(dismiss);
    if (hadFocus) dismiss.focus();
  }

  // Keyboard users keep their place: focus goes to the next row's button, or the picker.
  #removeRow(row) {
    if (row.element.contains(document.activeElement)) this.#focusAfter(row);
    row.element.remove();
  }

  #focusAfter(row) {
    const sibling = row.element.nextElementSibling ?? row.element.previousElementSibling;
    (sibling?.querySelector("button") ?? this.fallbackFocus).focus();
  }
}
