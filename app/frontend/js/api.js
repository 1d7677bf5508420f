import { sha256Hex } from "./content_hash.js";

// The backend's HTTP API (see docs/api.md), with errors turned into readable messages.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// "the file is not an image" reads as "The file is not an image."
function sentence(text) {
  const capitalised = text[0].toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}

// Error bodies are {"error": {"code", "message"}}; anything else gets a plain sentence.
function errorFrom(status, bodyText) {
  try {
    const message = JSON.parse(bodyText).error.message;
    if (typeof message === "string" && message) return new ApiError(status, sentence(message));
  } catch {
    // not our JSON error shape: fall through
  }
  if (status === 0) return new ApiError(0, "The server could not be reached. Check your connection.");
  return new ApiError(status, `The server answered ${status}. Please try again.`);
}

// The API sets the owner cookie (HttpOnly: this script never sees it) on a browser's
// first call, and same-origin requests send it back by themselves. Uploads wait until
// one call has been answered, so files sent at once from a fresh browser share one owner
// instead of each getting its own key (and all but one vanishing from the gallery).
let ownerCookieSet = null;

function ownerCookie() {
  ownerCookieSet ??= fetch("/api/images?limit=1").then(
    (response) => {
      if (!response.ok) ownerCookieSet = null;
    },
    () => {
      ownerCookieSet = null;
    },
  );
  return ownerCookieSet;
}

async function request(url, options = {}) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (error) {
    if (error.name === "AbortError") throw error; // the caller cancelled it on purpose
    throw errorFrom(0, "");
  }
  if (!response.ok) throw errorFrom(response.status, await response.text());
  return response;
}

// Limits, accepted formats and parameter ranges: the one source the page builds from.
export async function fetchConfig() {
  return (await request("/api/config")).json();
}

export async function listImages(before, limit) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (before) query.set("before", before);
  const response = await request(`/api/images?${query}`);
  ownerCookieSet ??= Promise.resolve();
  return response.json();
}

// keepalive lets a delete still pending when the page is closed finish after it
// (https://developer.mozilla.org/docs/Web/API/RequestInit#keepalive).
export async function deleteImage(id, { keepalive = false } = {}) {
  await request(`/api/images/${encodeURIComponent(id)}`, { method: "DELETE", keepalive });
}

// A stored result's edge map (a Blob), for the preview to draw.
export async function edgeImage(item) {
  return (await request(item.edges_url)).blob();
}

// The edge map of a stored original with other params, computed and not stored (a Blob).
// `signal` aborts it when a newer slider position supersedes it.
export async function previewEdges(id, params, signal) {
  const query = new URLSearchParams(Object.entries(params).map(([name, value]) => [name, String(value)]));
  const response = await request(`/api/images/${encodeURIComponent(id)}/preview.png?${query}`, { signal });
  return response.blob();
}

// The server runs the stored original again: nothing is downloaded or uploaded.
export async function rerunImage(id, params) {
  const response = await request(`/api/images/${encodeURIComponent(id)}/rerun`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(params),
  });
  return response.json();
}

// The owner's result for a file with these params, found by the file's SHA-256 (the id
// is derived from it: see docs/api-lookup.md), or null. Only after the owner cookie is
// set, like an upload, so that lookups from a fresh browser do not each make an owner.
export async function lookupImage(sha256, params) {
  await ownerCookie();
  const query = new URLSearchParams({ sha256 });
  for (const [name, value] of Object.entries(params)) query.set(name, String(value));
  try {
    return await (await request(`/api/images/lookup?${query}`)).json();
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

export class UploadCancelled extends Error {}

// A file this browser's owner has already processed with these params is not sent again:
// its SHA-256 is looked up first. When the hash or the lookup is unavailable (no
// crypto.subtle on plain HTTP, or the lookup fails) the file is simply uploaded.
export function uploadUnlessKnown(blob, filename, params, onProgress) {
  let cancelled = false;
  let upload = null;
  const known = sha256Hex(blob)
    .then((sha256) => (sha256 ? lookupImage(sha256, params) : null))
    .catch(() => null);
  const done = known.then((record) => {
    if (cancelled) throw new UploadCancelled("Cancelled");
    if (record) return record;
    upload = uploadImage(blob, filename, params, onProgress);
    return upload.done;
  });
  const cancel = () => {
    cancelled = true;
    upload?.cancel();
  };
  return { done, cancel };
}

// XMLHttpRequest, not fetch: only it reports upload progress. Returns {done, cancel}:
// cancel() aborts the request; the gateway reads a whole body before it passes it on
// (nginx's proxy_request_buffering, on by default:
// https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_request_buffering),
// so an upload stopped halfway never reaches a backend and nothing is stored.
export function uploadImage(blob, filename, params, onProgress) {
  const form = new FormData();
  form.append("file", blob, filename);
  for (const [name, value] of Object.entries(params)) form.append(name, String(value));
  const xhr = new XMLHttpRequest();
  let cancelled = false;
  const done = ownerCookie().then(() => new Promise((resolve, reject) => {
    if (cancelled) {
      reject(new UploadCancelled("Cancelled"));
      return;
    }
    xhr.open("POST", "/api/images");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 201) {
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          reject(errorFrom(xhr.status, ""));
        }
      } else {
        reject(errorFrom(xhr.status, xhr.responseText));
      }
    });
    xhr.addEventListener("error", () => reject(errorFrom(0, "")));
    xhr.addEventListener("abort", () => reject(new UploadCancelled("Cancelled")));
    xhr.send(form);
  }));
  const cancel = () => {
    cancelled = true;
    xhr.abort();
  };
  return { done, cancel };
}
