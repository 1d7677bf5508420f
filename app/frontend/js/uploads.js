// One row per upload with its own progress bar; a few uploads run at a time.

const PARALLEL_UPLOADS = 2;
const DONE_ROW_LIFETIME_MS = 4000;
const RATE_LIMIT_ATTEMPTS = 4;
const RATE_LIMIT_WAIT_MS = 1500;

export class UploadList {
  constructor(listElement) {
    this.list = listElement;
    this.running = 0;
    this.waiting = [];
  }

  // A file refused before upload still gets a row, so its reason is read next to its name.
  reject(label, problem) {
    const row = this.#row(label);
    this.#fail(row, problem);
  }

  // send(onProgress) performs the upload and resolves to the API's answer.
  add(label, send) {
    const row = this.#row(label);
    row.status.textContent = "Waiting…";
    return new Promise((resolve, reject) => {
      this.waiting.push({ row, send, resolve, reject });
      this.#next();
    });
  }

  #next() {
    if (this.running >= PARALLEL_UPLOADS || this.waiting.length === 0) return;
    this.running += 1;
    this.#attempt(this.waiting.shift(), 1);
  }

  #attempt(job, attempt) {
    const { row, send, resolve, reject } = job;
    row.status.textContent = "Uploading…";
    send((fraction) => {
      row.progress.value = fraction;
      if (fraction >= 1) row.status.textContent = "Finding edges…";
    })
      .then((result) => {
        row.progress.value = 1;
        row.status.textContent = result.cached ? "Done (already computed)" : "Done";
        row.element.classList.add("done");
        setTimeout(() => row.element.remove(), DONE_ROW_LIFETIME_MS);
        resolve(result);
        this.#finished();
      })
      .catch((error) => {
        // The gateway limits uploads per address; many files at once wait their turn.
        if (error.status === 429 && attempt < RATE_LIMIT_ATTEMPTS) {
          row.progress.value = 0;
          row.status.textContent = "Server busy, retrying shortly…";
          setTimeout(() => this.#attempt(job, attempt + 1), RATE_LIMIT_WAIT_MS * attempt);
          return;
        }
        this.#fail(row, error.message);
        reject(error);
        this.#finished();
      });
  }

  #finished() {
    this.running -= 1;
    this.#next();
  }

  #row(label) {
    const element = document.createElement("li");
    element.className = "upload-row";
    const name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = label;
    const progress = document.createElement("progress");
    progress.max = 1;
    progress.value = 0;
    progress.setAttribute("aria-label", `Upload progress of ${label}`);
    const status = document.createElement("span");
    status.className = "upload-status";
    element.append(name, progress, status);
    this.list.append(element);
    return { element, progress, status };
  }

  #fail(row, message) {
    row.element.classList.add("failed");
    row.progress.remove();
    row.status.textContent = message;
    row.status.setAttribute("role", "alert");
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "button small";
    dismiss.textContent = "Dismiss";
    dismiss.addEventListener("click", () => row.element.remove());
    row.element.append(dismiss);
  }
}
