// The three sliders, their ranges and defaults taken from /api/config's "params".

const NAMES = ["low", "high", "blur"];
const byId = (id) => document.getElementById(id);

export class Settings {
  constructor(config, onChange) {
    this.ranges = config.params;
    this.onChange = onChange;
    for (const name of NAMES) {
      const input = byId(name);
      const range = this.ranges[name];
      input.min = String(range.min);
      input.max = String(range.max);
      input.step = range.odd ? "2" : "1";
      input.value = String(range.default);
      input.addEventListener("input", () => this.#changed(name));
      this.#show(name);
    }
  }

  // Range inputs clamp to min, max and step themselves, and #changed keeps low <= high,
  // so whatever the sliders show is a valid set of params.
  read() {
    return Object.fromEntries(NAMES.map((name) => [name, Number(byId(name).value)]));
  }

  set(params) {
    for (const name of NAMES) {
      byId(name).value = String(params[name]);
      this.#show(name);
    }
  }

  // The thresholds push each other so low <= high always holds while sliding.
  #changed(name) {
    const low = byId("low");
    const high = byId("high");
    if (name === "low" && Number(low.value) > Number(high.value)) high.value = low.value;
    if (name === "high" && Number(high.value) < Number(low.value)) low.value = high.value;
    for (const each of NAMES) this.#show(each);
    this.onChange();
  }

  #show(name) {
    byId(`${name}-value`).textContent = byId(name).value;
  }
}
