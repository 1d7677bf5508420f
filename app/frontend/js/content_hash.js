// The SHA-256 of a file's bytes as lower-case hex: what GET /api/images/lookup takes.

// Browsers offer crypto.subtle only in secure contexts (HTTPS, or http://localhost and
// 127.0.0.1): https://developer.mozilla.org/en-US/docs/Web/API/Crypto/subtle. Elsewhere
// this answers null and the page simply uploads. digest() takes the whole file at once
// (https://developer.mozilla.org/en-US/docs/Web/API/SubtleCrypto/digest): files are
// bounded by the upload limit, which the page checks first.
export async function sha256Hex(blob) {
  if (!globalThis.crypto?.subtle) return null;
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}
