// The map's visual language: an Okabe–Ito palette that reads for colour-blind users, line
// patterns that carry meaning without colour, the conflict hatching, and the legend.

import { el, svg } from "./dom.js";

export const KINDS = {
  air: { label: "Air", colour: "#0072B2" },
  ground: { label: "Ground", colour: "#E69F00" },
  maritime: { label: "Maritime", colour: "#56B4E9" },
  uas: { label: "UAS (drones)", colour: "#009E73" },
  site: { label: "Site", colour: "#CC79A7" },
};
export const CONFLICT_COLOUR = "#D55E00";
const OTHERS_COLOUR = "#222222";
const PAST_COLOUR = "#8c8c8c";
const HATCH_ID = "dcf-hatch";
const SELECTED_WEIGHT = 5;

// Dash patterns: planned (not yet active) dashed, active solid, ended/cancelled dotted grey.
const DASH = { notified: "8 5", active: null, ended: "2 5", cancelled: "2 5" };

// Adds the hatching pattern to an SVG renderer's own <svg> so paths can fill with url(#…).
export function installHatch(renderer) {
  // `_container` is the renderer's <svg>; Leaflet exposes no public accessor for it.
  const root = renderer._container;
  if (!root || root.querySelector(`#${HATCH_ID}`)) return;
  const pattern = svg(
    "pattern",
    { id: HATCH_ID, width: 10, height: 10, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
    svg("rect", { width: 10, height: 10, fill: CONFLICT_COLOUR, "fill-opacity": 0.15 }),
    svg("line", { x1: 0, y1: 0, x2: 0, y2: 10, stroke: CONFLICT_COLOUR, "stroke-width": 4 }),
  );
  root.prepend(svg("defs", {}, pattern));
}

// Path options for one of a notification's volumes.
export function notificationStyle(item, { selected = false } = {}) {
  const ended = item.state === "ended" || item.state === "cancelled";
  const colour = ended ? PAST_COLOUR : item.byKind ? KINDS[item.kind]?.colour || OTHERS_COLOUR : OTHERS_COLOUR;
  return {
    color: colour,
    weight: selected ? SELECTED_WEIGHT : 2,
    dashArray: item.byKind ? DASH[item.state] ?? null : "1 6",
    lineCap: item.byKind ? "round" : "butt",
    fillColor: colour,
    fillOpacity: ended ? 0.05 : item.byKind ? (item.state === "active" ? 0.35 : 0.18) : 0.1,
  };
}

// Path options for one side of a conflict's overlap: hatched with a thick outline while open.
export function conflictStyle(conflict, side, { selected = false } = {}) {
  if (conflict.state !== "open") {
    return { color: PAST_COLOUR, weight: selected ? SELECTED_WEIGHT : 2, dashArray: "2 5", fillOpacity: 0.05, fillColor: PAST_COLOUR };
  }
  return {
    color: CONFLICT_COLOUR,
    weight: selected ? SELECTED_WEIGHT + 2 : 4,
    dashArray: side === "own" ? "10 6" : null,
    fillColor: `url(#${HATCH_ID})`,
    fillOpacity: 1,
  };
}

function swatch(options, label) {
  const attrs = {
    x: 3, y: 3, width: 26, height: 14, rx: 2,
    stroke: options.color,
    "stroke-width": Math.min(options.weight, 4),
    fill: options.fillColor.startsWith("url(") ? `url(#legend-hatch)` : options.fillColor,
    "fill-opacity": options.fillOpacity,
  };
  if (options.dashArray) attrs["stroke-dasharray"] = options.dashArray;
  return el(
    "li",
    {},
    svg("svg", { width: 32, height: 20, viewBox: "0 0 32 20", "aria-hidden": "true", focusable: "false" }, svg("rect", attrs)),
    el("span", {}, label),
  );
}

// The legend: every colour and line pattern the map uses, in words. The operator has no
// "own" notifications: it sees every party's coloured by kind.
export function legend({ operator = false } = {}) {
  const defs = svg(
    "svg",
    { width: 0, height: 0, class: "legend-defs", "aria-hidden": "true", focusable: "false" },
    svg(
      "defs",
      {},
      svg(
        "pattern",
        { id: "legend-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
        svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: CONFLICT_COLOUR, "stroke-width": 3 }),
      ),
    ),
  );
  const byKind = (kind, state = "active") => notificationStyle({ byKind: true, kind, state });
  const whose = operator ? "" : "Yours: ";
  const conflicts = operator
    ? [swatch(conflictStyle({ state: "open" }, "a"), "Conflict: each side's overlap (hatched, thick)")]
    : [
      swatch(notificationStyle({ byKind: false, state: "active" }), "Another party's (dotted black)"),
      swatch(conflictStyle({ state: "open" }, "other"), "Conflict: the other side's overlap (hatched, thick)"),
      swatch(conflictStyle({ state: "open" }, "own"), "Conflict: your side of it (hatched, thick dashed)"),
    ];
  return el(
    "details",
    { class: "legend", open: true },
    el("summary", {}, "Legend"),
    defs,
    el(
      "ul",
      {},
      Object.entries(KINDS).map(([kind, { label }]) => swatch(byKind(kind), `${whose}${label}`)),
      swatch(byKind("air", "notified"), "Not yet active (dashed)"),
      swatch(byKind("air", "ended"), "Ended or cancelled (dotted grey)"),
      conflicts,
      swatch(conflictStyle({ state: "resolved" }, "other"), "Resolved conflict"),
    ),
  );
}

// "0–1,500 m AMSL", "FL50–FL250 (AMSL)"
export function altitudeText(altitude) {
  if (!altitude) return "";
  const n = (v) => Number(v).toLocaleString("en");
  if (altitude.units === "FL") return `FL${altitude.lower}–FL${altitude.upper} (${altitude.reference})`;
  return `${n(altitude.lower)}–${n(altitude.upper)} ${altitude.units} ${altitude.reference}`;
}
