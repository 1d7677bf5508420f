// Buttons and links whose accessible name starts with their visible text and goes on,
// for screen readers only, with what they act on ("Delete harbour.jpg"): the name then
// contains the visible label (WCAG 2.5.3; axe's label-content-name-mismatch).

export function labelled(element, text, hiddenSuffix) {
  element.textContent = text;
  const hidden = document.createElement("span");
  hidden.className = "visually-hidden";
  hidden.textContent = ` ${hiddenSuffix}`;
  element.append(hidden);
  return element;
}

export function labelledButton(text, hiddenSuffix, className = "button") {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  return labelled(button, text, hiddenSuffix);
}
