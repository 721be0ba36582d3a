// The mechanism as this token may see it — notifications and conflicts as map items — kept
// fresh from the event stream without reloading the page.

import { query } from "./api.js";

const RELOAD_DELAY_MS = 250;
const LIMIT = 1000;

// Map items. A notification item: {type: "notification", id, own, byKind, kind, title,
// state, party, volumes: [{area, altitude, start, end}], view}; `byKind`: coloured by its kind
// (one's own, or anyone's for the operator, who sees every party whole). A conflict item: {type: "conflict",
// id, state, other (party or null), sides: [{side, area, altitude, start, end}], view}.
export function notificationItem(view, me) {
  const own = Boolean(me.party) && view.party.id === me.party.id;
  return {
    type: "notification",
    id: view.id,
    own,
    byKind: own || !me.party,
    kind: view.kind,
    title: view.title,
    state: view.state,
    party: view.party,
    volumes: view.volumes,
    view,
  };
}

export function conflictItem(view) {
  const sides = [];
  for (const overlap of view.overlaps || []) {
    for (const side of ["own", "other", "a", "b"]) {
      const part = overlap[side];
      if (part && part.area) sides.push({ side, ...part, gap: overlap.horizontal_gap_m });
    }
  }
  return {
    type: "conflict",
    id: view.id,
    state: view.state,
    other: view.other_party || null,
    sides,
    view,
  };
}

// The window [start, end] of an item: the earliest start and latest end of its parts.
export function timeSpan(item) {
  const parts = item.type === "notification" ? item.volumes : item.sides;
  const starts = parts.map((p) => Date.parse(p.start));
  const ends = parts.map((p) => Date.parse(p.end));
  return [Math.min(...starts), Math.max(...ends)];
}

// Whether any part of an item is planned at `t` (ms).
export function activeAt(item, t) {
  const parts = item.type === "notification" ? item.volumes : item.sides;
  return parts.some((p) => Date.parse(p.start) <= t && t < Date.parse(p.end));
}

// Whether the other side has acknowledged the conflict's current revision.
export function otherAcknowledged(view) {
  const others = (view.acknowledgements || []).filter(
    (a) => a.version === view.revision && (!view.other_party || a.party_id === view.other_party.id),
  );
  return others.length > 0;
}

// createPicture(app, onChange) → {load, error, notifications, conflicts, find, mergeConflicts,
// stop}. `onChange()` is called after each load until stop(); a notification or conflict event
// of the mechanism reloads it.
export function createPicture(app, onChange) {
  const mechanismId = app.mechanismId;
  let notifications = [];
  let conflicts = [];
  let timer = null;
  let error = null;
  let stopped = false;
  const requests = new AbortController(); // stop() cancels the loads under way

  async function load() {
    if (stopped) return;
    try {
      const path = `/v1/mechanisms/${encodeURIComponent(mechanismId)}/notifications${query({ limit: LIMIT })}`;
      const { signal } = requests;
      const [ns, cs] = await Promise.all([
        app.api.get(path, { signal }),
        app.api.get(`/v1/conflicts${query({ mechanism: mechanismId, limit: LIMIT })}`, { signal }),
      ]);
      notifications = ns.filter((n) => n.disclosure === "whole").map((n) => notificationItem(n, app.me));
      conflicts = cs.map(conflictItem);
      error = null;
    } catch (failure) {
      error = failure;
    }
    // A view left while this load was under way is gone: nothing is drawn for it any more.
    if (!stopped) onChange();
  }

  const unsubscribe = app.events.subscribe((event) => {
    if (event.mechanism_id !== mechanismId) return;
    if (!/^(notification|conflict)\./.test(event.type)) return;
    clearTimeout(timer);
    timer = setTimeout(load, RELOAD_DELAY_MS);
  });

  return {
    load,
    error: () => error,
    notifications: () => notifications,
    conflicts: () => conflicts,
    find: (id) => notifications.find((n) => n.id === id) || conflicts.find((c) => c.id === id) || null,
    // Shows a notify or revise answer's conflicts at once, before the reload confirms them.
    mergeConflicts(views) {
      for (const view of views) {
        const item = conflictItem(view);
        const i = conflicts.findIndex((c) => c.id === item.id);
        if (i >= 0) conflicts[i] = item;
        else conflicts.push(item);
      }
      onChange();
    },
    stop() {
      stopped = true;
      requests.abort();
      clearTimeout(timer);
      unsubscribe();
    },
  };
}
