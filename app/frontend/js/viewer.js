// Full-size comparison in a modal <dialog>, after Squoosh's: the original, and the edges
// from a split line onwards. The split is a position on the screen, not on the image, so
// it stays where the user put it while zooming and panning; its handle is dragged on the
// picture. Or an overlay: the edges drawn in colour over the original.

const ZOOM_STEP = 1.25;
const MAX_SCALE = 8;
const DOUBLE_CLICK_ZOOM = 2;
// From twice the size a pixel is a visible square: drawn sharp, not smoothed.
const PIXELATED_FROM = 2;
const PAN_STEP_PX = 40;
const DOUBLE_TAP_MS = 300;
const DOUBLE_TAP_PX = 24;
// The handle answers a little either side of its line, so a finger can grab it.
const HANDLE_REACH_PX = 22;
const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 0 });
const byId = (id) => document.getElementById(id);

export class Viewer {
  // name(item) is the title to show; neighbour(item, ±1) the next or previous image.
  constructor({ name, neighbour }) {
    Object.assign(this, { name, neighbour });
    this.dialog = byId("viewer");
    this.stage = byId("viewer-stage");
    this.layers = [...this.stage.querySelectorAll(".viewer-layer")];
    this.original = byId("viewer-original");
    this.edges = byId("viewer-edges");
    this.overlay = byId("viewer-overlay");
    this.clip = byId("viewer-edges-clip");
    this.handle = byId("viewer-handle");
    this.split = byId("viewer-split");
    this.level = byId("zoom-level");
    this.previousButton = byId("viewer-previous");
    this.nextButton = byId("viewer-next");
    this.pointers = new Map();
    this.draggingSplit = false;
    this.lastTap = null;
    this.view = { scale: 1, x: 0, y: 0 };
    this.returnFocus = null;

    byId("zoom-in").addEventListener("click", () => this.#zoomAtCentre(ZOOM_STEP));
    byId("zoom-out").addEventListener("click", () => this.#zoomAtCentre(1 / ZOOM_STEP));
    byId("zoom-fit").addEventListener("click", () => this.#fit());
    byId("zoom-actual").addEventListener("click", () => this.#zoomAtCentre(1 / this.view.scale));
    byId("viewer-close").addEventListener("click", () => this.dialog.close());
    this.previousButton.addEventListener("click", () => this.#step(-1));
    this.nextButton.addEventListener("click", () => this.#step(1));
    this.split.addEventListener("input", () => this.#showSplit());
    for (const radio of this.dialog.querySelectorAll('input[name="viewer-mode"]')) {
      radio.addEventListener("change", () => this.#showMode(radio.value));
    }
    // Escape closes a modal dialog natively, firing "cancel" then "close"
    // (https://developer.mozilla.org/docs/Web/API/HTMLDialogElement/cancel_event);
    // "close" covers every way out, so focus always returns to the opener.
    this.dialog.addEventListener("close", () => this.returnFocus?.focus());
    this.dialog.addEventListener("keydown", (event) => this.#pageKey(event));
    this.stage.addEventListener("wheel", (event) => this.#wheel(event), { passive: false });
    this.stage.addEventListener("keydown", (event) => this.#key(event));
    this.stage.addEventListener("pointerdown", (event) => this.#pointerDown(event));
    this.stage.addEventListener("pointermove", (event) => this.#pointerMove(event));
    for (const type of ["pointerup", "pointercancel"]) {
      this.stage.addEventListener(type, (event) => {
        this.pointers.delete(event.pointerId);
        if (this.pointers.size === 0) this.draggingSplit = false;
      });
    }
    new ResizeObserver(() => this.dialog.open && this.#apply()).observe(this.stage);
  }

  open(item, opener) {
    this.returnFocus = opener;
    this.#show(item);
    this.split.value = this.split.defaultValue;
    this.#showSplit();
    this.dialog.showModal();
    this.#fit();
  }

  get isOpen() {
    return this.dialog.open;
  }

  #show(item) {
    this.item = item;
    const name = this.name(item);
    byId("viewer-title").textContent = name;
    this.stage.setAttribute("aria-label", `${name}: original, and its edges from the split line on`);
    this.original.src = item.view_url || item.original_url;
    this.edges.src = item.edges_url;
    // The overlay paints a colour through the edge map: white edges show, black does not
    // (mask-mode luminance: https://developer.mozilla.org/docs/Web/CSS/mask-mode).
    this.overlay.style.maskImage = `url("${item.edges_url}")`;
    for (const element of [this.original, this.edges, this.overlay]) {
      element.style.width = `${item.width}px`;
      element.style.height = `${item.height}px`;
    }
    this.previousButton.disabled = !this.neighbour(item, -1);
    this.nextButton.disabled = !this.neighbour(item, 1);
  }

  // Next and previous keep the zoom's place: the same scale, fitted again if it is a
  // different size. A button that just became disabled hands focus to the stage.
  #step(delta) {
    const next = this.neighbour(this.item, delta);
    if (!next) return;
    this.#show(next);
    this.#fit();
    if (document.activeElement?.disabled) this.stage.focus();
  }

  #fitScale() {
    const box = this.stage.getBoundingClientRect();
    return Math.min(box.width / this.item.width, box.height / this.item.height, 1);
  }

  #fit() {
    this.view = { scale: this.#fitScale(), x: 0, y: 0 };
    this.#apply();
  }

  // Zoom keeping the image point under (px, py) in the stage where it is.
  #zoomAt(factor, px, py) {
    const { scale, x, y } = this.view;
    const next = Math.min(MAX_SCALE, Math.max(this.#fitScale(), scale * factor));
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

  // Panning is bounded: an image larger than the stage always covers it, a smaller one
  // stays centred. No key press or drag can leave an empty stage.
  #bounded({ scale, x, y }) {
    const box = this.stage.getBoundingClientRect();
    const axis = (offset, stage, image) =>
      image <= stage ? (stage - image) / 2 : Math.min(0, Math.max(stage - image, offset));
    return { scale, x: axis(x, box.width, this.item.width * scale), y: axis(y, box.height, this.item.height * scale) };
  }

  #apply() {
    this.view = this.#bounded(this.view);
    const { scale, x, y } = this.view;
    for (const layer of this.layers) layer.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
    this.stage.classList.toggle("pixelated", scale >= PIXELATED_FROM);
    const text = `Zoom ${percent.format(scale)}`;
    if (this.level.textContent !== text) this.level.textContent = text;
  }

  #splitFraction() {
    return Number(this.split.value);
  }

  #showSplit() {
    this.stage.style.setProperty("--split", String(this.#splitFraction()));
    this.split.setAttribute("aria-valuetext", `${percent.format(this.#splitFraction())} edges`);
  }

  #showMode(mode) {
    this.stage.dataset.mode = mode;
    this.split.disabled = mode === "overlay";
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

  #pageKey(event) {
    if (event.key !== "PageUp" && event.key !== "PageDown") return;
    if (event.target === this.split) return; // the split slider has its own Page keys
    event.preventDefault();
    this.#step(event.key === "PageUp" ? -1 : 1);
  }

  #splitX() {
    return this.stage.getBoundingClientRect().width * this.#splitFraction();
  }

  #pointerDown(event) {
    this.stage.setPointerCapture(event.pointerId);
    const point = { x: event.clientX, y: event.clientY };
    this.pointers.set(event.pointerId, point);
    const box = this.stage.getBoundingClientRect();
    const onLine = Math.abs(point.x - box.left - this.#splitX()) <= HANDLE_REACH_PX;
    this.draggingSplit = this.pointers.size === 1 && onLine && this.stage.dataset.mode !== "overlay";
    if (this.pointers.size === 1 && !this.draggingSplit) this.#tap(event.timeStamp, point);
  }

  // A second tap or click soon after, close to the first, zooms in there; at the
  // deepest zoom it goes back to Fit. Pointer events cover mouse and touch alike.
  #tap(time, point) {
    const last = this.lastTap;
    this.lastTap = { time, ...point };
    if (!last || time - last.time > DOUBLE_TAP_MS || Math.hypot(point.x - last.x, point.y - last.y) > DOUBLE_TAP_PX) return;
    this.lastTap = null;
    const box = this.stage.getBoundingClientRect();
    if (this.view.scale * DOUBLE_CLICK_ZOOM > MAX_SCALE) this.#fit();
    else this.#zoomAt(DOUBLE_CLICK_ZOOM, point.x - box.left, point.y - box.top);
  }

  // The handle follows one pointer; otherwise one pointer pans and two pinch, zooming
  // around their midpoint.
  #pointerMove(event) {
    const last = this.pointers.get(event.pointerId);
    if (!last) return;
    const current = { x: event.clientX, y: event.clientY };
    const box = this.stage.getBoundingClientRect();
    if (this.draggingSplit) {
      const fraction = Math.min(1, Math.max(0, (current.x - box.left) / box.width));
      this.split.value = String(fraction);
      this.#showSplit();
    } else if (this.pointers.size === 1) {
      this.#pan(current.x - last.x, current.y - last.y);
    } else if (this.pointers.size === 2) {
      const [other] = [...this.pointers].filter(([id]) => id !== event.pointerId).map(([, p]) => p);
      const before = Math.hypot(last.x - other.x, last.y - other.y);
      const after = Math.hypot(current.x - other.x, current.y - other.y);
      if (before > 0) {
        this.#zoomAt(after / before, (current.x + other.x) / 2 - box.left, (current.y + other.y) / 2 - box.top);
      }
    }
    this.pointers.set(event.pointerId, current);
  }
}
