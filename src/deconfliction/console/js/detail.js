// The detail panel of a map item: a notification (with revise and cancel for its owner) or a
// conflict (both sides' overlap, the other party's contact, acknowledge).

import { ApiError, idempotent } from "./api.js";
import { el, field, replace } from "./dom.js";
import { otherAcknowledged } from "./picture.js";
import { altitudeText, KINDS } from "./style.js";
import { both } from "./time.js";

const STATE_TEXT = { notified: "notified (not yet active)", active: "active", ended: "ended", cancelled: "cancelled" };

function facts(rows) {
  return el("dl", { class: "facts" }, rows.filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function areaText(area) {
  if (area.type === "Circle") return `circle, ${area.radius.toLocaleString("en")} m radius around ${area.center[1].toFixed(4)}° N, ${area.center[0].toFixed(4)}° E`;
  if (area.type === "Corridor") return `corridor of ${area.line.coordinates.length} points, ${area.half_width.toLocaleString("en")} m either side`;
  return `polygon of ${area.coordinates[0].length - 1} vertices`;
}

function partFacts(part) {
  return facts([
    ["Altitude", altitudeText(part.altitude)],
    ["From", both(part.start)],
    ["Until", both(part.end)],
  ]);
}

// Renders a notification item. `actions`: {onRevise(view), onCancelled(view), onSelect(id)}.
export function notificationDetail(item, { app, onRevise, onCancelled, onSelect }) {
  const view = item.view;
  const status = el("p", { role: "status", class: "form-status" });
  const mayChange = item.own && view.state !== "cancelled" && view.state !== "ended";
  const reason = field("Reason for cancelling (optional)", el("input", { type: "text", maxlength: 200, name: "cancel_reason" }));
  const cancelButton = el("button", { type: "submit", class: "danger" }, "Cancel notification");
  const cancelForm = el("form", { class: "cancel-form", "aria-label": "Cancel this notification" }, reason.wrap, cancelButton);
  cancelForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!window.confirm(`Cancel “${view.title}”? Its conflicts are resolved and the other parties are told.`)) return;
    cancelButton.disabled = true;
    try {
      const body = reason.input.value.trim() ? { reason: reason.input.value.trim() } : {};
      const answer = await app.api.post(`/v1/notifications/${encodeURIComponent(view.id)}/cancel`, body, { headers: idempotent() });
      onCancelled(answer);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      replace(status, `Not cancelled: ${error.message}`);
      cancelButton.disabled = false;
    }
  });
  return el(
    "article",
    { class: "detail", "aria-labelledby": "detail-title" },
    el("h2", { id: "detail-title", tabindex: "-1" }, view.title || "(untitled)"),
    facts([
      ["Party", item.own ? `${view.party.code} (yours)` : `${view.party.code} — ${view.party.name}`],
      ["Kind", KINDS[view.kind]?.label || view.kind],
      ["State", STATE_TEXT[view.state] || view.state],
      ["Late", view.late ? "yes — notified later than the minimum notice" : null],
      ["Reference", view.reference],
      ["Version", String(view.version)],
      ["From", both(view.start)],
      ["Until", both(view.end)],
      ["Cancelled", view.cancelled_at ? `${both(view.cancelled_at)}${view.cancel_reason ? ` — ${view.cancel_reason}` : ""}` : null],
      ["ID", view.id],
    ]),
    el("h3", {}, `Volumes (${view.volumes.length})`),
    el("ol", { class: "volumes" }, view.volumes.map((v) => el("li", {}, el("p", {}, areaText(v.area)), partFacts(v)))),
    el("h3", {}, `Conflicts (${view.conflicts.length})`),
    view.conflicts.length
      ? el("ul", { class: "plain" }, view.conflicts.map((c) => el("li", {}, el("button", { type: "button", class: "link", onclick: () => onSelect(c.id) }, `${c.state === "open" ? "Open" : "Resolved"} conflict with ${c.other_party ? c.other_party.code : `${c.party_a?.code} / ${c.party_b?.code}`}`))))
      : el("p", {}, "None."),
    mayChange ? el("div", { class: "form-actions" }, el("button", { type: "button", onclick: () => onRevise(view) }, "Revise")) : null,
    mayChange ? cancelForm : null,
    status,
  );
}

const ACKNOWLEDGED = "Acknowledged: received and read.";

// The confirmation of your party's acknowledgement of the conflict's current revision, from the
// conflict itself, so that it stays when the panel is drawn again; empty when there is none.
function acknowledgedText(view, me) {
  if (!view.acknowledged) return "";
  const ack = (view.acknowledgements || []).find((a) => a.party_id === me.party?.id && a.version === view.revision);
  return ack ? `${ACKNOWLEDGED} Recorded ${both(ack.acknowledged_at)}.` : ACKNOWLEDGED;
}

// Renders a conflict item. `actions`: {onSelect(id), onAcknowledged()}.
export function conflictDetail(item, { app, onSelect, onAcknowledged }) {
  const view = item.view;
  const status = el("p", { role: "status", class: "form-status" });
  const isParty = Boolean(view.other_party);
  const confirmation = el("p", { role: "status", class: "confirmation" }, isParty ? acknowledgedText(view, app.me) : "");
  const ackButton = el("button", { type: "button", class: "primary" }, "Acknowledge conflict (received and read)");
  ackButton.addEventListener("click", async () => {
    ackButton.disabled = true;
    try {
      await app.api.post(`/v1/conflicts/${encodeURIComponent(view.id)}/acknowledge`, undefined, { headers: idempotent() });
      ackButton.hidden = true;
      replace(confirmation, ACKNOWLEDGED);
      onAcknowledged();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      replace(status, `Not acknowledged: ${error.message}`);
      ackButton.disabled = false;
    }
  });
  const sideName = { own: "Your side", other: `${view.other_party?.code || "Other"}'s side`, a: view.party_a?.code, b: view.party_b?.code };
  const ownId = view.own_notification || view.notification_a;
  const otherId = view.other_notification || view.notification_b;
  return el(
    "article",
    { class: "detail", "aria-labelledby": "detail-title" },
    el("h2", { id: "detail-title", tabindex: "-1" }, isParty ? `Conflict with ${view.other_party.code}` : `Conflict ${view.party_a.code} / ${view.party_b.code}`),
    facts([
      ["State", view.state === "open" ? "open" : `resolved${view.resolution ? ` — ${typeof view.resolution === "string" ? view.resolution : JSON.stringify(view.resolution)}` : ""}`],
      ["Other party", isParty ? view.other_party.name : null],
      ["Their contact", isParty ? view.other_party.contact : null],
      ["Detected", both(view.detected_at)],
      ["Revision", String(view.revision)],
      ["You acknowledged", isParty ? (view.acknowledged ? "yes (received and read)" : "not yet") : null],
      ["They acknowledged", isParty ? (otherAcknowledged(view) ? "yes (received and read)" : "not yet") : null],
      ["ID", view.id],
    ]),
    isParty && view.state === "open" && !view.acknowledged ? ackButton : null,
    confirmation,
    status,
    el("h3", {}, "Overlap"),
    el("ul", { class: "plain" }, item.sides.map((part) => el("li", {}, el("h4", {}, sideName[part.side] || part.side), partFacts(part), part.gap !== undefined ? el("p", {}, `Horizontal gap: ${Math.round(part.gap).toLocaleString("en")} m`) : null))),
    el(
      "div",
      { class: "form-actions" },
      ownId ? el("button", { type: "button", class: "link", onclick: () => onSelect(ownId) }, isParty ? "Show your notification" : `Show ${view.party_a.code}'s notification`) : null,
      !isParty && otherId ? el("button", { type: "button", class: "link", onclick: () => onSelect(otherId) }, `Show ${view.party_b.code}'s notification`) : null,
    ),
  );
}
