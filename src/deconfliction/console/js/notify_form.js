// The notify / revise form: kind, title, area details, altitude band and time window, sent to
// the API as is; the API's validation messages are shown next to the field they name.

import { ApiError, idempotent } from "./api.js";
import { append, el, field, replace, select, showFieldErrors } from "./dom.js";
import { KINDS } from "./style.js";
import { fromInput, local, nextQuarter, toInput } from "./time.js";

const UNITS = [["m", "metres (m)"], ["ft", "feet (ft)"], ["FL", "flight level (FL)"]];
const REFERENCES = [["AMSL", "AMSL (mean sea level)"], ["W84", "W84 (ellipsoid)"]];

// A number for the API, or the text as typed so that the API names what is wrong with it.
const number = (text) => (text.trim() !== "" && Number.isFinite(Number(text)) ? Number(text) : text);

// createNotifyForm({app, mechanismId, drawing, existing, imported, onDone, onClose}) →
// {element, areaChanged(area), focus()}.
// `existing`: a notification view to revise. `imported`: {name, body} from a GeoJSON file,
// whose volumes are sent as they are. Otherwise the one volume's area is the drawing's draft.
// `onDone(view)` gets the API's answer (the notification with its conflicts).
export function createNotifyForm({ app, mechanismId, drawing, existing, imported, onDone, onClose }) {
  const source = existing || imported?.body || {};
  const fixedVolumes = imported ? imported.body.volumes : existing && existing.volumes.length > 1 ? existing.volumes : null;
  const first = fixedVolumes ? null : existing?.volumes[0];
  const start = nextQuarter(2);

  const f = {
    kind: field("Kind", select(Object.entries(KINDS).map(([k, v]) => [k, v.label]), { name: "kind" })),
    title: field("Title", el("input", { type: "text", name: "title", maxlength: 200, value: source.title || "" })),
    reference: field("Your reference (optional)", el("input", { type: "text", name: "reference", maxlength: 200, value: source.reference || "" })),
    longitude: field("Centre longitude (°)", el("input", { type: "text", inputmode: "decimal", name: "longitude" })),
    latitude: field("Centre latitude (°)", el("input", { type: "text", inputmode: "decimal", name: "latitude" })),
    radius: field("Radius (m)", el("input", { type: "text", inputmode: "decimal", name: "radius" })),
    halfWidth: field("Corridor half-width (m)", el("input", { type: "text", inputmode: "decimal", name: "half_width", value: "1000" }), "Metres either side of the line."),
    lower: field("Lower altitude", el("input", { type: "text", inputmode: "decimal", name: "lower", value: String(first?.altitude.lower ?? 0) })),
    upper: field("Upper altitude", el("input", { type: "text", inputmode: "decimal", name: "upper", value: String(first?.altitude.upper ?? 1500) })),
    units: field("Altitude units", select(UNITS, { name: "units" })),
    altitudeReference: field("Altitude reference", select(REFERENCES, { name: "altitude_reference" })),
    start: field("Start (UTC)", el("input", { type: "datetime-local", name: "start", value: toInput(first?.start || start) }), "—"),
    end: field("End (UTC)", el("input", { type: "datetime-local", name: "end", value: toInput(first?.end || new Date(start.getTime() + 2 * 3600000)) }), "—"),
  };
  f.units.input.value = first?.altitude.units || "m";
  f.altitudeReference.input.value = first?.altitude.reference || "AMSL";
  f.kind.input.value = source.kind || "air";

  const areaText = el("p", { class: "area-summary", id: "area-summary" });
  const areaError = el("p", { class: "field-error", role: "alert" });
  const general = el("div", { class: "form-errors", role: "alert" });
  const submit = el("button", { type: "submit", class: "primary" }, existing ? "Send revision" : "Notify");
  const close = el("button", { type: "button", onclick: () => onClose() }, "Discard");

  for (const name of ["start", "end"]) {
    const entry = f[name];
    const update = () => replace(entry.hint, fromInput(entry.input.value) ? local(fromInput(entry.input.value)) : "");
    entry.input.addEventListener("input", update);
    update();
  }

  const circleFields = el("div", { class: "field-row" }, f.longitude.wrap, f.latitude.wrap, f.radius.wrap);
  const corridorFields = el("div", { class: "field-row" }, f.halfWidth.wrap);
  const volumeFields = el(
    "div",
    {},
    el("fieldset", {}, el("legend", {}, "Altitude band"), el("div", { class: "field-row" }, f.lower.wrap, f.upper.wrap), el("div", { class: "field-row" }, f.units.wrap, f.altitudeReference.wrap)),
    el("fieldset", {}, el("legend", {}, "Time window"), el("div", { class: "field-row" }, f.start.wrap, f.end.wrap)),
  );

  function describeArea(area) {
    circleFields.hidden = !area || area.type !== "Circle";
    corridorFields.hidden = !area || area.type !== "Corridor";
    if (fixedVolumes) {
      replace(areaText, imported
        ? `${fixedVolumes.length} volume(s) from ${imported.name}: areas, altitudes and times as in the file.`
        : `${fixedVolumes.length} volumes, kept as they are; change kind, title or reference here.`);
      return;
    }
    if (!area) {
      replace(areaText, "No area yet: draw a polygon, circle or corridor on the map, or enter a circle by coordinates.");
      return;
    }
    if (area.type === "Circle") {
      f.longitude.input.value = String(area.center[0]);
      f.latitude.input.value = String(area.center[1]);
      f.radius.input.value = String(area.radius);
      replace(areaText, `Circle of ${area.radius.toLocaleString("en")} m radius.`);
    } else if (area.type === "Corridor") {
      f.halfWidth.input.value = String(area.half_width);
      replace(areaText, `Corridor along ${area.line.coordinates.length} points, ${area.half_width.toLocaleString("en")} m either side.`);
    } else {
      replace(areaText, `Polygon of ${area.coordinates[0].length - 1} vertices.`);
    }
  }

  const moveCircle = () => {
    const [x, y, r] = [f.longitude, f.latitude, f.radius].map((e) => Number(e.input.value));
    if ([x, y, r].every(Number.isFinite) && r > 0) drawing.setCircle([x, y], r);
  };
  for (const entry of [f.longitude, f.latitude, f.radius]) entry.input.addEventListener("change", moveCircle);
  f.halfWidth.input.addEventListener("change", () => {
    const value = Number(f.halfWidth.input.value);
    if (Number.isFinite(value) && value > 0) drawing.setHalfWidth(value);
  });

  function body() {
    const result = { kind: f.kind.input.value, title: f.title.input.value, reference: f.reference.input.value };
    if (fixedVolumes) {
      result.volumes = fixedVolumes;
      return result;
    }
    const area = drawing.area();
    if (area?.type === "Circle") area.radius = number(f.radius.input.value);
    if (area?.type === "Corridor") area.half_width = number(f.halfWidth.input.value);
    result.volumes = [{
      area,
      altitude: {
        lower: number(f.lower.input.value),
        upper: number(f.upper.input.value),
        units: f.units.input.value,
        reference: f.altitudeReference.input.value,
      },
      start: fromInput(f.start.input.value),
      end: fromInput(f.end.input.value),
    }];
    return result;
  }

  // Field path (as the API names it) → the form entry where its message goes.
  const targets = [
    ["kind", f.kind], ["title", f.title], ["reference", f.reference],
    ["volumes[0].area.center", f.longitude], ["volumes[0].area.radius", f.radius],
    ["volumes[0].area.half_width", f.halfWidth],
    ["volumes[0].altitude.lower", f.lower], ["volumes[0].altitude.upper", f.upper],
    ["volumes[0].altitude.units", f.units], ["volumes[0].altitude.reference", f.altitudeReference],
    ["volumes[0].altitude", f.lower], ["volumes[0].start", f.start], ["volumes[0].end", f.end],
  ];

  function showErrors(error) {
    const byEntry = new Map();
    const rest = [];
    for (const { field: path, reason } of error.errors) {
      const target = fixedVolumes ? null : targets.find(([prefix]) => path === prefix || path.startsWith(`${prefix}.`) || path.startsWith(`${prefix}[`));
      if (target) byEntry.set(target[1], [...(byEntry.get(target[1]) || []), reason]);
      else if (!fixedVolumes && path.startsWith("volumes[0].area")) replace(areaError, reason);
      else rest.push(`${path.replace(/^volumes\[(\d+)\]\.?/, (_, i) => `${imported ? "feature" : "volume"} ${Number(i) + 1} · `)}: ${reason}`);
    }
    for (const entry of Object.values(f)) showFieldErrors(entry, byEntry.get(entry) || []);
    let summary = error.message;
    if (byEntry.size) summary = "The service refused this notification; see the message by each field.";
    else if (rest.length) summary = "The service refused this notification:";
    replace(general, el("p", {}, error.status === 412 ? `${error.message} — it was changed meanwhile: close this form and open it again.` : summary));
    if (rest.length) append(general, el("ul", {}, rest.map((text) => el("li", {}, text))));
    const firstInvalid = form.querySelector("[aria-invalid='true']");
    (firstInvalid || general).focus?.();
  }

  function clearErrors() {
    for (const entry of Object.values(f)) showFieldErrors(entry, []);
    replace(general);
    replace(areaError);
  }

  const form = el(
    "form",
    { class: "notify-form", "aria-labelledby": "notify-title", novalidate: true },
    el("h2", { id: "notify-title" }, existing ? `Revise “${existing.title}” (version ${existing.version})` : "New notification"),
    general,
    f.kind.wrap, f.title.wrap, f.reference.wrap,
    el("fieldset", {}, el("legend", {}, "Area"), areaText, areaError, circleFields, corridorFields),
    fixedVolumes ? null : volumeFields,
    el("div", { class: "form-actions" }, submit, close),
  );
  general.tabIndex = -1;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const payload = body();
    if (!fixedVolumes && !payload.volumes[0].area) {
      replace(areaError, "Draw an area on the map first, or enter a circle by coordinates.");
      return;
    }
    submit.disabled = true;
    try {
      const view = existing
        ? await app.api.put(`/v1/notifications/${encodeURIComponent(existing.id)}`, payload, { headers: { "If-Match": `"${existing.version}"` } })
        : await app.api.post(`/v1/mechanisms/${encodeURIComponent(mechanismId)}/notifications`, payload, { headers: idempotent() });
      onDone(view);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      showErrors(error);
    } finally {
      submit.disabled = false;
    }
  });

  describeArea(fixedVolumes ? null : drawing.area());
  return { element: form, areaChanged: describeArea, focus: () => f.title.input.focus() };
}
