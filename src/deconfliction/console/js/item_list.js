// Every map item in text beside the map: the conflict list and the notification list, each
// entry a button that selects the item (and so highlights it on the map).

import { el, replace } from "./dom.js";
import { otherAcknowledged } from "./picture.js";
import { KINDS } from "./style.js";
import { span } from "./time.js";

function entry(label, details, selected, onSelect, id) {
  return el(
    "li",
    {},
    el(
      "button",
      { type: "button", class: "item", "aria-pressed": selected ? "true" : "false", dataset: { id }, onclick: () => onSelect(id) },
      el("span", { class: "item-title" }, label),
      el("span", { class: "item-details" }, details),
    ),
  );
}

// "Conflict with BEF" (a party's view) or "Conflict ARV / BEF" (the operator's).
export function conflictName(item) {
  const view = item.view;
  return view.other_party ? `Conflict with ${view.other_party.code}` : `Conflict ${view.party_a.code} / ${view.party_b.code}`;
}

// "open, you have not acknowledged, they acknowledged" — or "resolved".
export function conflictStatus(item) {
  const view = item.view;
  if (view.state !== "open") return "resolved";
  if (!view.other_party) return "open";
  const mine = view.acknowledged ? "you acknowledged" : "you have not acknowledged";
  const theirs = otherAcknowledged(view) ? "they acknowledged" : "they have not acknowledged";
  return `open, ${mine}, ${theirs}`;
}

// The name a conflict goes by in the list and for assistive technology.
export function conflictLabel(item) {
  return `${conflictName(item)} — ${conflictStatus(item)}`;
}

// createItemList({onSelect}) → {element, render({notifications, conflicts, selectedId, error})}.
export function createItemList({ onSelect }) {
  const conflictsList = el("ul", { class: "items", "aria-labelledby": "conflicts-title" });
  const notificationsList = el("ul", { class: "items", "aria-labelledby": "notifications-title" });
  const conflictsTitle = el("h2", { id: "conflicts-title" }, "Conflicts");
  const notificationsTitle = el("h2", { id: "notifications-title" }, "Notifications");
  const error = el("p", { class: "error", role: "alert" });
  const element = el(
    "section",
    { class: "item-lists", "aria-label": "Items on the map" },
    error,
    conflictsTitle,
    conflictsList,
    notificationsTitle,
    notificationsList,
  );

  return {
    element,
    render({ notifications, conflicts, selectedId, error: failure }) {
      replace(error, failure ? `Could not load the picture: ${failure.message}` : "");
      const open = conflicts.filter((c) => c.state === "open");
      replace(conflictsTitle, `Conflicts (${open.length} open)`);
      const ordered = [...open, ...conflicts.filter((c) => c.state !== "open")];
      replace(
        conflictsList,
        ordered.length
          ? ordered.map((c) => entry(conflictLabel(c), c.sides[0] ? span(c.sides[0].start, c.sides[0].end) : "", c.id === selectedId, onSelect, c.id))
          : el("li", { class: "empty" }, "None shown."),
      );
      replace(notificationsTitle, `Notifications (${notifications.length})`);
      replace(
        notificationsList,
        notifications.length
          ? notifications.map((n) => entry(
            n.title || "(untitled)",
            `${n.own ? "yours" : n.party.code} · ${KINDS[n.kind]?.label || n.kind} · ${n.state} · ${span(n.view.start, n.view.end)}`,
            n.id === selectedId, onSelect, n.id,
          ))
          : el("li", { class: "empty" }, "None shown."),
      );
    },
  };
}
