// The backend's rules, checked before any byte is sent.

export const ACCEPTED_TYPES = ["image/png", "image/jpeg", "image/webp", "image/bmp", "image/tiff"];
export const DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024;

export function formatBytes(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(bytes % (1024 * 1024) ? 1 : 0)} MiB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${bytes} bytes`;
}

export function fileProblem(file, maxBytes) {
  if (!ACCEPTED_TYPES.includes(file.type)) {
    return "Not a supported image: use PNG, JPEG, WebP, BMP or TIFF.";
  }
  if (file.size === 0) return "The file is empty.";
  if (file.size > maxBytes) {
    return `The file is ${formatBytes(file.size)}; the limit is ${formatBytes(maxBytes)}.`;
  }
  return null;
}

// Returns {params} or {problem}: thresholds 0-1000 with low <= high, blur odd 1-15.
export function readSettings(lowInput, highInput, blurSelect) {
  const low = Number(lowInput.value);
  const high = Number(highInput.value);
  const blur = Number(blurSelect.value);
  const isThreshold = (value) => Number.isInteger(value) && value >= 0 && value <= 1000;
  if (lowInput.value === "" || !isThreshold(low)) {
    return { problem: "Low threshold must be a whole number from 0 to 1000.", field: lowInput };
  }
  if (highInput.value === "" || !isThreshold(high)) {
    return { problem: "High threshold must be a whole number from 0 to 1000.", field: highInput };
  }
  if (low > high) {
    return { problem: "Low threshold must not be above the high threshold.", field: lowInput };
  }
  if (!(Number.isInteger(blur) && blur % 2 === 1 && blur >= 1 && blur <= 15)) {
    return { problem: "Blur must be an odd number from 1 to 15.", field: blurSelect };
  }
  return { params: { low, high, blur } };
}
