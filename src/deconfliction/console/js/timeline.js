// The timeline view (#/timeline): notifications and conflicts on a time axis (a Gantt chart);
// choosing a bar shows that item on the map.

import { el, replace } from "./dom.js";
import { conflictLabel, conflictName, conflictStatus } from "./item_list.js";
import { createPicture, timeSpan } from "./picture.js";
import { KINDS } from "./style.js";
import { span, utc } from "./time.js";

const MINUTE = 60000;
const HOUR = 60 * MINUTE;
const TICKS = [1, 3, 6, 12, 24, 48, 168].map((h) => h * HOUR);
const NOW_EVERY_MS = 30000;
const TICK_GAP_PX = 8;

// The axis [from, to]: every item's window, and now when it lies close to them (within their
// span, or 6 h), with a margin either side so that no bar touches an edge.
function extent(items, now) {
  let from = Math.min(...items.map((i) => timeSpan(i)[0]));
  let to = Math.max(...items.map((i) => timeSpan(i)[1]));
  const near = Math.max(to - from, 6 * HOUR);
  if (now > from - near && now < to + near) {
    from = Math.min(from, now);
    to = Math.max(to, now);
  }
  const margin = Math.max((to - from) * 0.04, 10 * MINUTE);
  return [from - margin, to + margin];
}

// Tick labels: the date on the first and wherever the day changes, the hour on the others.
function ticks(from, to) {
  const step = TICKS.find((t) => (to - from) / t <= 10) || TICKS.at(-1);
  const labels = [];
  let day = "";
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) {
    const [date, time] = utc(new Date(t)).split(" ");
    labels.push({ t, text: date === day ? time : `${date.slice(5)} ${time}` });
    day = date;
  }
  return labels;
}

// Hides each tick label that would overlap the one before it or stick out of the axis. Measured
// in fractional pixels: offsetLeft and offsetWidth are rounded, and a label they said fitted
// could stick out of the axis by a pixel, depending on where the hour falls.
function fitTicks(track) {
  const axis = track.getBoundingClientRect();
  let free = axis.left;
  for (const tick of track.querySelectorAll(".tick")) {
    tick.hidden = false;
    const box = tick.getBoundingClientRect();
    const fits = box.left >= free && box.right <= axis.right;
    tick.hidden = !fits;
    if (fits) free = box.right + TICK_GAP_PX;
  }
}

export function mount(root, app) {
  const body = el("div", { class: "timeline-body" });
  replace(
    root,
    el("div", { class: "timeline" },
      el("h1", {}, "Timeline"),
      el("p", { class: "hint" }, "Each bar is a time window (UTC); hatched bars are conflicts. Choose a bar to see it on the map."),
      body),
  );
  if (!app.mechanismId) {
    replace(body, el("p", {}, "This token is not a member of any mechanism yet."));
    return undefined;
  }
  const picture = createPicture(app, render);
  // Over the tracks of every row, from the axis down: the line at now.
  const nowLine = el("div", { class: "now-line" });
  const nowLayer = el("div", { class: "now-layer", "aria-hidden": "true" }, nowLine);
  const nowNote = el("span", { class: "now-note" });
  let range = null; // the axis drawn: [from, to] in ms
  let axisTrack = null;

  // A duration, and an instant, as a share of the axis (a CSS percentage).
  const share = (ms) => `${(ms / (range[1] - range[0])) * 100}%`;
  const at = (t) => share(t - range[0]);

  function placeNow() {
    if (!range) return;
    const now = Date.now();
    const inside = range[0] <= now && now <= range[1];
    nowLine.hidden = !inside;
    if (inside) nowLine.style.left = at(now);
    replace(nowNote, inside ? `now: ${utc(new Date(now))}` : `now (${utc(new Date(now))}) is ${now < range[0] ? "before" : "after"} this axis`);
  }

  function bar(item, part, className, label) {
    const start = Date.parse(part.start);
    const button = el(
      "button",
      { type: "button", class: `bar ${className}`, "aria-label": `${label}: ${span(part.start, part.end)}`, title: `${label}\n${span(part.start, part.end)}`, onclick: () => app.navigate(`/map?select=${encodeURIComponent(item.id)}`) },
    );
    button.style.left = at(start);
    button.style.width = `max(${share(Date.parse(part.end) - start)}, 3px)`;
    return button;
  }

  function row(label, details, bars) {
    return el("li", { class: "row" }, el("div", { class: "row-label" }, el("span", { class: "item-title" }, label), el("span", { class: "item-details" }, details)), el("div", { class: "track" }, bars));
  }

  function render() {
    range = null;
    axisTrack = null;
    if (picture.error()) {
      replace(body, el("p", { class: "error", role: "alert" }, `Could not load: ${picture.error().message}`));
      return;
    }
    const conflicts = picture.conflicts();
    const notifications = [...picture.notifications()].sort((a, b) => timeSpan(a)[0] - timeSpan(b)[0]);
    const all = [...conflicts, ...notifications];
    if (!all.length) {
      replace(body, el("p", {}, "Nothing to show yet."));
      return;
    }
    range = extent(all, Date.now());
    axisTrack = el("div", { class: "track" }, ticks(...range).map(({ t, text }) => {
      const tick = el("span", { class: "tick" }, text);
      tick.style.left = at(t);
      return tick;
    }));
    replace(
      body,
      el("div", { class: "axis", "aria-hidden": "true" }, el("div", { class: "row-label" }, nowNote), axisTrack),
      el("h2", {}, `Conflicts (${conflicts.filter((c) => c.state === "open").length} open)`),
      el("ul", { class: "rows", "aria-label": "Conflicts on the timeline" }, conflicts.map((c) => {
        const label = conflictLabel(c);
        // Each side of the overlap on its own half of the row: yours (or a's) above, theirs below.
        const side = { own: "your side", other: "their side", a: c.view.party_a?.code, b: c.view.party_b?.code };
        return row(conflictName(c), conflictStatus(c), c.sides.map((part) => bar(c, part, `${c.state === "open" ? "conflict" : "resolved"} side-${part.side}`, `${label} (${side[part.side]})`)));
      })),
      el("h2", {}, `Notifications (${notifications.length})`),
      el("ul", { class: "rows", "aria-label": "Notifications on the timeline" }, notifications.map((n) => {
        const details = `${n.own ? "yours" : n.party.code} · ${KINDS[n.kind]?.label || n.kind} · ${n.state}`;
        return row(n.title || "(untitled)", details, n.volumes.map((v) => bar(n, v, `kind-${n.byKind ? n.kind : "others"} state-${n.state}`, n.title || n.id)));
      })),
      nowLayer,
    );
    placeNow();
    fitTicks(axisTrack);
  }

  const resize = new ResizeObserver(() => axisTrack && fitTicks(axisTrack));
  resize.observe(body);
  const clock = setInterval(placeNow, NOW_EVERY_MS);
  picture.load();
  return () => {
    picture.stop();
    resize.disconnect();
    clearInterval(clock);
  };
}
