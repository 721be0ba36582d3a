// The line's compose form: recipients, type, priority, body, references, and replies in a thread.

import { idempotent } from "./api.js";
import { el, field, replace, select } from "./dom.js";
import { clearProblem, showProblem } from "./problems.js";
import { utc } from "./time.js";

const TYPES = [
  ["text", "Text"],
  ["notice", "Notice"],
  ["query", "Query"],
  ["request-change", "Request to change"],
  ["answer", "Answer"],
  ["incident", "Incident report"],
];
// "request-change" → "Request to change", for lists of messages.
export const TYPE_NAMES = Object.fromEntries(TYPES);
const PRIORITIES = [["routine", "Routine"], ["urgent", "Urgent (shorter deadline)"]];

// A labelled group of checkboxes, one per party, with its own error line (a dom.field entry).
function recipientsField(parties) {
  const boxes = parties.map((party) =>
    el("input", { type: "checkbox", name: "to", value: party.id, id: `to-${party.id}` }),
  );
  const error = el("p", { class: "field-error", id: "compose-to-error", role: "alert" });
  const wrap = el(
    "fieldset",
    { class: "field recipients", "aria-describedby": "compose-to-error" },
    el("legend", {}, "Recipients"),
    parties.length
      ? parties.map((party, i) =>
          el("label", { class: "check", for: boxes[i].id }, boxes[i], ` ${party.code} — ${party.name}`),
        )
      : el("p", {}, "No other party is a member of this mechanism."),
    error,
  );
  return { wrap, input: boxes[0] || wrap, error, boxes };
}

// The options of the references list: the conflicts and notifications this party can see.
// What was chosen stays chosen when the list is refilled.
function fillReferences(list, conflicts, notifications, codeOf) {
  const chosen = new Set([...list.selectedOptions].map((o) => o.value));
  const option = (value, label) => el("option", { value, selected: chosen.has(value) }, label);
  const groups = [
    ["Conflicts", conflicts.map((c) => option(`conflicts:${c.id}`, `${c.id} with ${c.other_party?.code || "?"} (${c.state})`))],
    [
      "Notifications",
      notifications.map((n) =>
        option(
          `notifications:${n.id}`,
          n.disclosure === "whole" && n.title
            ? `${n.title} (${n.id}, ${codeOf(n.party?.id)})`
            : `${codeOf(n.party?.id)}'s ${n.id} (overlap)`,
        ),
      ),
    ],
  ].filter(([, options]) => options.length);
  replace(
    list,
    groups.length
      ? groups.map(([label, options]) => el("optgroup", { label }, options))
      : el("option", { disabled: true, value: "" }, "Nothing you can cite yet"),
  );
}

// composeForm(app, {others, conflicts, notifications, codeOf, onSent}) → {node, replyTo, update,
// cite}.
// `others` are the member parties other than the signed-in one.
export function composeForm(app, { others, conflicts, notifications, codeOf, onSent }) {
  const to = recipientsField(others);
  const type = field("Type", select(TYPES, { name: "type" }));
  const priority = field("Priority", select(PRIORITIES, { name: "priority" }));
  const body = field(
    "Message",
    el("textarea", { name: "body", rows: 5, required: true }),
    "Plain text, at most 10,000 characters; line breaks are kept. Every recipient must acknowledge it: received and read.",
  );
  const references = field(
    "References (optional)",
    el("select", { multiple: true, size: 4 }),
    "Ctrl or Shift to choose several. Only what you can see may be cited.",
  );
  fillReferences(references.input, conflicts, notifications, codeOf);
  const replyNote = el("p", { class: "reply-note", id: "compose-reply", tabindex: "-1" });
  const replyError = el("p", { class: "field-error", role: "alert" });
  const reply = { wrap: el("div", {}, replyNote, replyError), input: replyNote, error: replyError };
  const status = el("p", { class: "form-status", role: "status" });
  const send = el("button", { type: "submit", class: "primary" }, "Send");
  let inReplyTo = null;

  const fields = { to, type, priority, body, references, in_reply_to: reply };
  const form = el(
    "form",
    { class: "compose", "aria-labelledby": "compose-title", novalidate: true },
    el("h2", { id: "compose-title" }, "Compose"),
    reply.wrap,
    to.wrap,
    el("div", { class: "field-row" }, type.wrap, priority.wrap),
    body.wrap,
    references.wrap,
    send,
    status,
  );

  function clearReply() {
    inReplyTo = null;
    replace(replyNote);
    reply.wrap.hidden = true;
  }
  clearReply();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearProblem(fields, status);
    const chosen = [...references.input.selectedOptions].map((o) => o.value.split(":"));
    const refs = { notifications: [], conflicts: [] };
    for (const [kind, id] of chosen) refs[kind].push(id);
    const message = {
      to: to.boxes.filter((b) => b.checked).map((b) => b.value),
      type: type.input.value,
      priority: priority.input.value,
      body: body.input.value,
      references: refs,
    };
    if (inReplyTo) message.in_reply_to = inReplyTo;
    send.disabled = true;
    replace(status, "Sending…");
    try {
      const path = `/v1/mechanisms/${encodeURIComponent(app.mechanismId)}/messages`;
      const sent = await app.api.post(path, message, { headers: idempotent() });
      form.reset();
      clearReply();
      replace(status, `Sent ${sent.id} at ${utc(sent.created_at)}; the service's receipt is on the Proof page.`);
      onSent(sent);
    } catch (error) {
      showProblem(error, fields, status);
    } finally {
      send.disabled = false;
    }
  });

  return {
    node: form,
    // Answer `message` in its thread: to its sender (or, for the service's own, to no one yet).
    replyTo(message) {
      inReplyTo = message.id;
      reply.wrap.hidden = false;
      replace(
        replyNote,
        `Replying to ${message.id} from ${message.system ? "the service" : codeOf(message.from)}. `,
        el("button", { type: "button", onclick: clearReply }, "Cancel reply"),
      );
      for (const box of to.boxes) box.checked = box.value === message.from;
      type.input.value = "answer";
      body.input.focus();
    },
    // Refills the references with what the party can see now.
    update({ conflicts: nowConflicts, notifications: nowNotifications }) {
      fillReferences(references.input, nowConflicts, nowNotifications, codeOf);
    },
    // Pre-selects a reference (a conflict or notification id) if it can be cited.
    cite(id) {
      for (const option of references.input.options) {
        if (option.value.endsWith(`:${id}`)) option.selected = true;
      }
    },
  };
}
