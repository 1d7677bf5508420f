// The edge settings, each a slider and a number field kept in step. Which settings there
// are, their labels, hints, ranges and defaults all come from /api/config's "params" (the
// backend's model), so a new parameter gets its controls without an edit here; the last
// values are remembered across reloads.

const STORAGE_KEY = "canny-settings";
// Page Up / Page Down move a twentieth of the range, never less than a step; Chromium's own page
// step for a range input is a tenth of it, too coarse for the thresholds.
const PAGE_SHARE = 0.05;
const byId = (id) => document.getElementById(id);

// One setting's label, slider, number field and hint, inserted before the settings' message.
// The number field is named by the same label and both are described by the hint.
function buildField(name, range) {
  const field = document.createElement("div");
  field.className = "field";
  const label = document.createElement("label");
  label.id = `${name}-label`;
  label.htmlFor = name;
  label.textContent = range.label;
  const slider = document.createElement("input");
  slider.id = name;
  slider.name = name;
  slider.type = "range";
  slider.setAttribute("aria-describedby", `${name}-hint`);
  const number = document.createElement("input");
  number.id = `${name}-number`;
  number.className = "number";
  number.type = "number";
  number.inputMode = "numeric";
  number.setAttribute("aria-labelledby", `${name}-label`);
  number.setAttribute("aria-describedby", `${name}-hint`);
  const hint = document.createElement("p");
  hint.id = `${name}-hint`;
  hint.className = "hint";
  hint.textContent = range.hint;
  field.append(label, slider, number, hint);
  byId("message").before(field);
}

export class Settings {
  constructor(config, onChange) {
    this.ranges = config.params;
    this.names = Object.keys(this.ranges);
    this.onChange = onChange;
    for (const name of this.names) {
      const range = this.ranges[name];
      const step = range.odd ? 2 : 1;
      buildField(name, range);
      for (const input of [byId(name), byId(`${name}-number`)]) {
        input.min = String(range.min);
        input.max = String(range.max);
        input.step = String(step);
      }
      byId(name).addEventListener("input", () => this.#changed(name, byId(name).value));
      byId(name).addEventListener("keydown", (event) => this.#pageKey(event, name, step));
      // A typed number applies when it is complete (change), not at each digit typed.
      byId(`${name}-number`).addEventListener("change", (event) => this.#changed(name, event.target.value));
    }
    this.set(this.#remembered() ?? this.defaults());
  }

  defaults() {
    return Object.fromEntries(this.names.map((name) => [name, this.ranges[name].default]));
  }

  read() {
    return Object.fromEntries(this.names.map((name) => [name, Number(byId(name).value)]));
  }

  set(params) {
    for (const name of this.names) this.#put(name, params[name]);
    this.#save();
  }

  focus() {
    byId(this.names[0]).focus();
  }

  // Values remembered by an earlier visit, if they still fit today's ranges.
  #remembered() {
    try {
      const saved = JSON.parse(localStorage.getItem(STORAGE_KEY));
      const fits = this.names.every((name) => this.#valid(name, saved?.[name]));
      return fits && saved.low <= saved.high ? saved : null;
    } catch {
      return null;
    }
  }

  #valid(name, value) {
    const { min, max, odd } = this.ranges[name];
    return Number.isInteger(value) && value >= min && value <= max && (!odd || value % 2 === 1);
  }

  #save() {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.read()));
    } catch {
      // storage full or disabled: the settings simply start from the defaults next time
    }
  }

  #pageKey(event, name, step) {
    if (event.key !== "PageUp" && event.key !== "PageDown") return;
    event.preventDefault();
    const { min, max } = this.ranges[name];
    const page = Math.max(step, Math.round(((max - min) * PAGE_SHARE) / step) * step);
    const delta = event.key === "PageUp" ? page : -page;
    this.#changed(name, Number(byId(name).value) + delta);
  }

  // Any value is brought into range and onto a step; the thresholds push each other so
  // that low <= high always holds, whichever control moved.
  #changed(name, raw) {
    this.#put(name, this.#fit(name, Number(raw)));
    const low = Number(byId("low").value);
    const high = Number(byId("high").value);
    if (name === "low" && low > high) this.#put("high", low);
    if (name === "high" && high < low) this.#put("low", high);
    this.#save();
    this.onChange();
  }

  #fit(name, value) {
    const { min, max, odd, default: fallback } = this.ranges[name];
    if (!Number.isFinite(value)) return Number(byId(name).value) || fallback;
    let fitted = Math.min(max, Math.max(min, Math.round(value)));
    if (odd && fitted % 2 === 0) fitted = fitted + 1 <= max ? fitted + 1 : fitted - 1;
    return fitted;
  }

  #put(name, value) {
    byId(name).value = String(value);
    byId(`${name}-number`).value = String(value);
  }
}
