// Time for people: UTC first with the local time alongside, countdowns, form values in UTC.

const pad = (n) => String(n).padStart(2, "0");

export function parse(value) {
  return value instanceof Date ? value : new Date(value);
}

// "2026-12-02 09:00Z"
export function utc(value) {
  const d = parse(value);
  if (Number.isNaN(d.getTime())) return "—";
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}Z`;
}

// "11:00 local" (with the date when it differs from the UTC date shown beside it)
export function local(value) {
  const d = parse(value);
  if (Number.isNaN(d.getTime())) return "";
  const sameDay = d.getDate() === d.getUTCDate();
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return sameDay ? `${time} local` : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time} local`;
}

// "2026-12-02 09:00Z (11:00 local)"
export function both(value) {
  return `${utc(value)} (${local(value)})`;
}

// "2026-12-02 09:00Z → 2026-12-02 11:00Z"
export function span(start, end) {
  return `${utc(start)} → ${utc(end)}`;
}

// A signed, human countdown to `deadline`: "in 4 min", "12 min overdue", "in 2 h 05 min".
export function countdown(deadline, now = new Date()) {
  const ms = parse(deadline).getTime() - parse(now).getTime();
  const minutes = Math.round(Math.abs(ms) / 60000);
  const text = minutes >= 60 ? `${Math.floor(minutes / 60)} h ${pad(minutes % 60)} min` : `${minutes} min`;
  return ms >= 0 ? `in ${text}` : `${text} overdue`;
}

// The value of an <input type="datetime-local"> whose fields mean UTC: "2026-12-02T09:00".
export function toInput(value) {
  const d = parse(value);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

// Back to RFC 3339 with Z; an empty or malformed field gives "" so the API names the field.
export function fromInput(text) {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(text) ? `${text.length === 16 ? `${text}:00` : text}Z` : "";
}

// A time rounded up to the next quarter hour, plus `hours`.
export function nextQuarter(hours = 0, from = new Date()) {
  const d = new Date(from.getTime() + hours * 3600000);
  d.setUTCSeconds(0, 0);
  d.setUTCMinutes(Math.ceil(d.getUTCMinutes() / 15) * 15);
  return d;
}
