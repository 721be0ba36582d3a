// Builds DOM elements from data with textContent only: every string from the API is hostile.

const SVG_NS = "http://www.w3.org/2000/svg";

// el("button", {class: "x", type: "button", onclick: fn, dataset: {id}}, "text", child, ...)
// Attributes are set with setAttribute, listeners with addEventListener, children as nodes or
// text nodes; nothing is ever parsed as HTML. `style` is refused: the page's CSP forbids it.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attrs);
  append(node, ...children);
  return node;
}

// The same for SVG elements (legend swatches, hatching patterns).
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttributes(node, attrs);
  append(node, ...children);
  return node;
}

function setAttributes(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "style") throw new Error("inline styles are not allowed");
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (name === "value" || name === "checked" || name === "selected") {
      node[name] = value;
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

// Appends nodes and strings (as text); null, undefined and false are skipped, arrays flattened.
export function append(node, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Replaces an element's children.
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, ...children);
}

// A labelled form control: <div class="field"><label for>…</label>control<p error></p></div>.
// Returns {wrap, input, error}; the error paragraph is tied to the control by aria-describedby.
let fieldCounter = 0;
export function field(label, control, hint) {
  const id = control.id || `f${++fieldCounter}`;
  control.id = id;
  const error = el("p", { class: "field-error", id: `${id}-error`, role: "alert" });
  const described = [`${id}-error`];
  let hintNode = null;
  if (hint) {
    hintNode = el("p", { class: "field-hint", id: `${id}-hint` }, hint);
    described.push(`${id}-hint`);
  }
  control.setAttribute("aria-describedby", described.join(" "));
  const wrap = el("div", { class: "field" }, el("label", { for: id }, label), control, hintNode, error);
  return { wrap, input: control, error, hint: hintNode };
}

// Shows (or clears, with an empty list) messages under a field and marks the control invalid.
export function showFieldErrors(entry, messages) {
  replace(entry.error, messages.join(" "));
  if (messages.length) entry.input.setAttribute("aria-invalid", "true");
  else entry.input.removeAttribute("aria-invalid");
}

// <select> from [value, label] pairs.
export function select(options, attrs = {}) {
  return el(
    "select",
    attrs,
    options.map(([value, label]) => el("option", { value }, label)),
  );
}
