// The page's one live region: every status change is said once, in one place.

const region = document.getElementById("announcer");

export function announce(text) {
  // Emptied first, so the same sentence twice in a row is still read the second time.
  region.textContent = "";
  requestAnimationFrame(() => {
    region.textContent = text;
  });
}
