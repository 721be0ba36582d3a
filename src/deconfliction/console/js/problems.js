// Shows an API refusal in a form: each message next to the field it names, the rest in a status.

import { replace, showFieldErrors } from "./dom.js";

// Whether the API's field path `path` ("to[1]", "rules.ack_deadline_min") is inside `name`.
function within(path, name) {
  return path === name || path.startsWith(`${name}.`) || path.startsWith(`${name}[`);
}

// `fields` maps API field names to dom.field() entries. Each {field, reason} of the error goes
// under the entry with the longest name containing it; what no entry claims (and the refusal's
// own title) goes into `status`, so nothing the API said is lost.
export function showProblem(error, fields, status) {
  const names = Object.keys(fields).sort((a, b) => b.length - a.length);
  const messages = new Map(names.map((name) => [name, []]));
  const unclaimed = [];
  for (const item of error.errors || []) {
    const path = String(item.field || "");
    const name = names.find((candidate) => within(path, candidate));
    if (name) messages.get(name).push(item.reason);
    else unclaimed.push(path ? `${path}: ${item.reason}` : item.reason);
  }
  for (const [name, list] of messages) showFieldErrors(fields[name], list);
  const claimed = (error.errors || []).length > unclaimed.length;
  const detail = unclaimed.length ? unclaimed.join("; ") : claimed ? "see the fields marked." : error.message;
  replace(status, `Not done — ${error.title}: ${detail}`);
  status.classList.add("error");
  const first = names.find((name) => messages.get(name).length);
  if (first) fields[first].input.focus();
}

// Clears every field's message and the status, before a new attempt.
export function clearProblem(fields, status) {
  for (const entry of Object.values(fields)) showFieldErrors(entry, []);
  replace(status, "");
  status.classList.remove("error");
}
