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

// Results uploaded elsewhere (another browser, curl) are named after their id.
export function fileInfo(item) {
  const extension = item.original_url.split(".").pop();
  return all()[item.id] ?? { name: `image-${item.id.slice(0, 8)}.${extension}`, bytes: null };
}

export function describeParams(params) {
  return `low ${params.low}, high ${params.high}, blur ${params.blur}`;
}

// "harbour.jpg" with low 30, high 90, blur 3 downloads as "harbour-edges-low30-high90-blur3.png".
export function downloadName(name, params) {
  const stem = name.replace(/\.[^.]+$/, "") || "image";
  return `${stem}-edges-low${params.low}-high${params.high}-blur${params.blur}.png`;
}
