// Building the page's elements. Text always goes in as text, never as HTML: what the API or the
// customer wrote cannot become markup.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name in element && typeof value !== "string") element[name] = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

/** A term and its description, for a <dl>. */
export function item(term, ...description) {
  return [h("dt", {}, term), h("dd", {}, ...description)];
}

/** A labelled input, its hint and a place for its error, wired for screen readers. */
export function field({ name, label, value = "", type = "text", required = false, autocomplete }) {
  const input = h("input", {
    id: name,
    name,
    type,
    value: value ?? "",
    required,
    autocomplete,
    "aria-describedby": `${name}-error`,
  });
  return h(
    "div",
    { class: "field" },
    h("label", { for: name }, label),
    h("p", { id: `${name}-error`, class: "field-error", hidden: true }),
    input,
  );
}

/** Shows `message` under the field named `name` (or clears it with null). */
export function setFieldError(form, name, message) {
  const input = form.elements.namedItem(name);
  const error = form.querySelector(`#${CSS.escape(name)}-error`);
  if (!input || !error) return false;
  error.textContent = message ?? "";
  error.hidden = !message;
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  return true;
}

/** A message box: `kind` "success", "error" or "info"; errors are announced at once. */
export function notice(kind, ...content) {
  return h("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, ...content);
}
