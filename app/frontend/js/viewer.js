// Full-size comparison in a modal <dialog>: original under edges, split by a before/after
// slider; zoom and pan by buttons, keys, wheel, pointer drag and two-finger pinch.

const ZOOM_STEP = 1.25;
const MAX_SCALE = 8;
const PAN_STEP_PX = 40;
const percent = new Intl.NumberFormat(undefined, { style: "percent" });
const byId = (id) => document.getElementById(id);

export class Viewer {
  constructor() {
    this.dialog = byId("viewer");
    this.stage = byId("viewer-stage");
    this.layer = byId("viewer-layer");
    this.original = byId("viewer-original");
    this.edges = byId("viewer-edges");
    this.split = byId("viewer-split");
    this.level = byId("zoom-level");
    this.pointers = new Map();
    this.view = { scale: 1, x: 0, y: 0 };
    this.returnFocus = null;

    byId("zoom-in").addEventListener("click", () => this.#zoomAtCentre(ZOOM_STEP));
    byId("zoom-out").addEventListener("click", () => this.#zoomAtCentre(1 / ZOOM_STEP));
    byId("zoom-fit").addEventListener("click", () => this.#fit());
    byId("zoom-actual").addEventListener("click", () => this.#zoomAtCentre(1 / this.view.scale));
    byId("viewer-close").addEventListener("click", () => this.dialog.close());
    this.split.addEventListener("input", () => this.#showSplit());
    // Escape closes a modal dialog natively, firing "cancel" then "close"
    // (https://developer.mozilla.org/docs/Web/API/HTMLDialogElement/cancel_event);
    // "close" covers every way out, so focus always returns to the opener.
    this.dialog.addEventListener("close", () => this.returnFocus?.focus());
    this.stage.addEventListener("wheel", (event) => this.#wheel(event), { passive: false });
    this.stage.addEventListener("keydown", (event) => this.#key(event));
    this.stage.addEventListener("pointerdown", (event) => this.#pointerDown(event));
    this.stage.addEventListener("pointermove", (event) => this.#pointerMove(event));
    for (const type of ["pointerup", "pointercancel"]) {
      this.stage.addEventListener(type, (event) => this.pointers.delete(event.pointerId));
    }
  }

  open(item, name, opener) {
    this.returnFocus = opener;
    this.item = item;
    byId("viewer-title").textContent = name;
    this.stage.setAttribute("aria-label", `${name}: original on the left of the split, edges on the right`);
    this.original.src = item.view_url || item.original_url;
    this.edges.src = item.edges_url;
    for (const image of [this.original, this.edges]) {
      image.width = item.width;
      image.height = item.height;
    }
    this.split.value = this.split.defaultValue;
    this.#showSplit();
    this.dialog.showModal();
    this.#fit();
  }

  get isOpen() {
    return this.dialog.open;
  }

  #fitScale() {
    const box = this.stage.getBoundingClientRect();
    return Math.min(box.width / this.item.width, box.height / this.item.height, 1);
  }

  #fit() {
    const box = this.stage.getBoundingClientRect();
    const scale = this.#fitScale();
    this.view = {
      scale,
      x: (box.width - this.item.width * scale) / 2,
      y: (box.height - this.item.height * scale) / 2,
    };
    this.#apply();
  }

  // Zoom keeping the image point under (px, py) in the stage where it is.
  #zoomAt(factor, px, py) {
    const { scale, x, y } = this.view;
    const next = Math.min(MAX_SCALE, Math.max(this.#fitScale() / 2, scale * factor));
    const ratio = next / scale;
    this.view = { scale: next, x: px - (px - x) * ratio, y: py - (py - y) * ratio };
    this.#apply();
  }

  #zoomAtCentre(factor) {
    const box = this.stage.getBoundingClientRect();
    this.#zoomAt(factor, box.width / 2, box.height / 2);
  }

  #pan(dx, dy) {
    this.view = { ...this.view, x: this.view.x + dx, y: this.view.y + dy };
    this.#apply();
  }

  #apply() {
    const { scale, x, y } = this.view;
    this.layer.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
    this.level.textContent = percent.format(scale);
  }

  #showSplit() {
    this.layer.style.setProperty("--split", this.split.value);
  }

  #wheel(event) {
    event.preventDefault();
    const box = this.stage.getBoundingClientRect();
    const factor = event.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP;
    this.#zoomAt(factor, event.clientX - box.left, event.clientY - box.top);
  }

  #key(event) {
    const moves = {
      ArrowLeft: [PAN_STEP_PX, 0],
      ArrowRight: [-PAN_STEP_PX, 0],
      ArrowUp: [0, PAN_STEP_PX],
      ArrowDown: [0, -PAN_STEP_PX],
    };
    if (event.key in moves) this.#pan(...moves[event.key]);
    else if (event.key === "+" || event.key === "=") this.#zoomAtCentre(ZOOM_STEP);
    else if (event.key === "-") this.#zoomAtCentre(1 / ZOOM_STEP);
    else return;
    event.preventDefault();
  }

  #pointerDown(event) {
    this.stage.setPointerCapture(event.pointerId);
    this.pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
  }

  // One pointer pans; two pinch, zooming around their midpoint.
  #pointerMove(event) {
    const last = this.pointers.get(event.pointerId);
    if (!last) return;
    const current = { x: event.clientX, y: event.clientY };
    if (this.pointers.size === 1) {
      this.#pan(current.x - last.x, current.y - last.y);
    } else if (this.pointers.size === 2) {
      const [other] = [...this.pointers].filter(([id]) => id !== event.pointerId).map(([, p]) => p);
      const before = Math.hypot(last.x - other.x, last.y - other.y);
      const after = Math.hypot(current.x - other.x, current.y - other.y);
      const box = this.stage.getBoundingClientRect();
      if (before > 0) {
        this.#zoomAt(after / before, (current.x + other.x) / 2 - box.left, (current.y + other.y) / 2 - box.top);
      }
    }
    this.pointers.set(event.pointerId, current);
  }
}
