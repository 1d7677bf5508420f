// The server keeps no file names; the page remembers the names of what this browser uploaded.

const KEY = "canny-file-names";

function all() {
  try {
    return JSON.parse(localStorage.getItem(KEY)) ?? {};
  } catch {
    return {};
  }
}

function save(names) {
  try {
    localStorage.setItem(KEY, JSON.stringify(names));
  } catch {
    // storage full or disabled: cards fall back to a name made from the id
  }
}

export function rememberName(id, name, bytes) {
  save({ ...all(), [id]: { name, bytes } });
}

export function forgetName(id) {
  const names = all();
  delete names[id];
  save(names);
}

// Results uploaded elsewhere (another browser, curl) are named after their id. The
// extension comes from the URL's path: on S3 storage a signed query follows it.
export function fileInfo(item) {
  const extension = new URL(item.original_url, document.baseURI).pathname.split(".").pop();
  return all()[item.id] ?? { name: `image-${item.id.slice(0, 8)}.${extension}`, bytes: null };
}

// Params are named in the order the API gives them (the model's): "low 30, high 90, blur 3".
export function describeParams(params) {
  return Object.entries(params)
    .map(([name, value]) => `${name} ${value}`)
    .join(", ");
}

export function sameParams(a, b) {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...names].every((name) => a[name] === b[name]);
}

// What a result's params change from the defaults, as a card's title says it:
// "low 70 / high 300", or "" for the defaults themselves.
export function paramsChange(params, defaults) {
  return Object.keys(defaults)
    .filter((name) => params[name] !== defaults[name])
    .map((name) => `${name} ${params[name]}`)
    .join(" / ");
}

// "harbour.jpg" with low 30, high 90, blur 3 downloads as "harbour-edges-low30-high90-blur3.png".
export function downloadName(name, params) {
  const stem = name.replace(/\.[^.]+$/, "") || "image";
  const settings = Object.entries(params).map(([param, value]) => `${param}${value}`);
  return `${stem}-edges-${settings.join("-")}.png`;
}
