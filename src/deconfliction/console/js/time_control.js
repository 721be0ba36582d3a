// The map's time filter: a slider over the mechanism's time span and a "Now" button; off, the
// map shows every time; on, only what is planned at the chosen instant.

import { el, replace } from "./dom.js";
import { timeSpan } from "./picture.js";
import { both } from "./time.js";

const STEP_MS = 15 * 60000;
const DAY_MS = 24 * 3600000;
const FOLLOW_MS = 30000;

// createTimeControl({onChange, extent}) → {element, value, clear, refreshRange, stop}.
// `extent()` gives the picture whose items set the slider's range; `value()` is the chosen
// instant in ms, or null when the filter is off.
export function createTimeControl({ onChange, extent }) {
  let following = false;
  const toggle = el("input", { type: "checkbox", id: "time-filter" });
  const slider = el("input", { type: "range", id: "time-slider", step: STEP_MS });
  const output = el("output", { for: "time-slider", class: "time-output", "aria-live": "polite" });
  const now = el("button", { type: "button" }, "Now");

  function show() {
    replace(output, toggle.checked ? both(new Date(Number(slider.value))) : "all times shown");
    slider.setAttribute("aria-valuetext", both(new Date(Number(slider.value))));
  }

  function setTime(ms) {
    slider.value = String(Math.round(ms / STEP_MS) * STEP_MS);
    toggle.checked = true;
    show();
    onChange();
  }

  toggle.addEventListener("change", () => {
    following = false;
    show();
    onChange();
  });
  slider.addEventListener("input", () => {
    following = false;
    setTime(Number(slider.value));
  });
  now.addEventListener("click", () => {
    refreshRange();
    following = true;
    setTime(Date.now());
  });
  const timer = setInterval(() => {
    if (following) setTime(Date.now());
  }, FOLLOW_MS);

  function refreshRange() {
    const picture = extent();
    const items = [...picture.notifications(), ...picture.conflicts()];
    const ends = items.map((i) => timeSpan(i)[1]).filter(Number.isFinite);
    const start = Math.floor((Date.now() - DAY_MS) / STEP_MS) * STEP_MS;
    const end = Math.max(Date.now() + 7 * DAY_MS, ...ends);
    const current = Number(slider.value) || Date.now();
    slider.min = String(start);
    slider.max = String(Math.ceil(end / STEP_MS) * STEP_MS);
    slider.value = String(Math.min(Math.max(current, start), end));
    show();
  }

  refreshRange();
  const element = el(
    "fieldset",
    { class: "time-control" },
    el("legend", {}, "Time"),
    el("div", { class: "check" }, toggle, el("label", { for: "time-filter" }, "Only what is planned at the chosen time")),
    el("label", { for: "time-slider" }, "Chosen time"),
    slider,
    el("div", { class: "button-row" }, output, now),
  );
  return {
    element,
    value: () => (toggle.checked ? Number(slider.value) : null),
    clear() {
      following = false;
      toggle.checked = false;
      show();
    },
    refreshRange,
    stop: () => clearInterval(timer),
  };
}
