// Checks before any byte is sent, all built from the server's /api/config answer.

export function formatBytes(bytes) {
  const mebi = 1024 * 1024;
  if (bytes >= mebi) return `${(bytes / mebi).toFixed(bytes % mebi ? 1 : 0)} MiB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${bytes} bytes`;
}

// Every accepted format's media type is image/<name>, for each name the config lists.
export function mediaTypes(config) {
  return config.formats.map((name) => `image/${name}`);
}

export function formatList(config) {
  const names = config.formats.map((name) => name.toUpperCase());
  return `${names.slice(0, -1).join(", ")} or ${names.at(-1)}`;
}

export function fileProblem(file, config) {
  if (!mediaTypes(config).includes(file.type)) {
    return `Not a supported image: use ${formatList(config)}.`;
  }
  if (file.size === 0) return "The file is empty.";
  if (file.size > config.max_upload_bytes) {
    return `The file is ${formatBytes(file.size)}; the limit is ${formatBytes(config.max_upload_bytes)}.`;
  }
  return null;
}
