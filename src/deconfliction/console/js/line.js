// The line (#/line): what to acknowledge, what the other side has not, threads, and compose.

import { idempotent, query } from "./api.js";
import { composeForm, TYPE_NAMES } from "./compose.js";
import { el, replace } from "./dom.js";
import { both, countdown, utc } from "./time.js";

const RELOAD_DELAY_MS = 250;
const TICK_MS = 15000;
const LIMIT = 200;
const ACK_PATHS = { message: "messages", conflict: "conflicts", notification: "notifications" };
const STATES = {
  pending: "not yet delivered",
  delivered: "delivered, not yet acknowledged",
  acknowledged: "acknowledged: received and read",
  overdue: "overdue: not acknowledged in time",
  closed: "closed: nothing more to acknowledge",
  unacknowledged: "not yet acknowledged",
};

// A state as words, in a badge whose class carries the state for the style sheet.
function badge(state) {
  return el("span", { class: `badge state-${state}` }, STATES[state] || state);
}

export function mount(root, app) {
  root.classList.add("page");
  const mechanismId = app.mechanismId;
  const ticks = [];
  const inboxList = el("ul", { class: "inbox", "aria-label": "Items to acknowledge" });
  const waitingList = el("ul", { class: "waiting", "aria-label": "Sent, awaiting the other side" });
  const threadList = el("div", { class: "threads" });
  const status = el("p", { class: "form-status", role: "status" });
  const showAll = el("input", { type: "checkbox", id: "line-show-all", onchange: () => load() });
  const composeSlot = el("div", { class: "compose-slot" });
  let data = null;
  let compose = null;
  let timer = null;
  let stopped = false;

  replace(
    root,
    el("h1", {}, "The line"),
    el("p", { class: "meaning" }, "Acknowledging says received and read — never approved, never safe."),
    status,
    el(
      "div",
      { class: "line-grid" },
      el(
        "div",
        { class: "line-column" },
        el(
          "section",
          { class: "card", "aria-labelledby": "inbox-title" },
          el("h2", { id: "inbox-title" }, "To acknowledge"),
          el("label", { class: "check", for: showAll.id }, showAll, " Show acknowledged and closed items too"),
          inboxList,
        ),
        el(
          "section",
          { class: "card", "aria-labelledby": "waiting-title" },
          el("h2", { id: "waiting-title" }, "Awaiting the other side"),
          waitingList,
        ),
      ),
      el("section", { class: "card", "aria-labelledby": "threads-title" }, el("h2", { id: "threads-title" }, "Threads"), threadList),
      el("section", { class: "card" }, composeSlot),
    ),
  );

  if (!mechanismId) {
    replace(status, "This token is not a member of any mechanism yet.");
    return undefined;
  }

  const partyName = (id) => (id ? data?.parties.get(id)?.code || id : "the service");
  const countdownNode = (deadline, state) => {
    const node = el("span", { class: "countdown" });
    ticks.push({ node, deadline, state });
    tick(node, deadline, state);
    return node;
  };

  function tick(node, deadline, state) {
    const live = state !== "acknowledged" && state !== "closed";
    replace(node, live ? ` — ${countdown(deadline)}` : "");
  }

  async function acknowledge(item, button) {
    button.disabled = true;
    try {
      await app.api.post(`/v1/${ACK_PATHS[item.subject_type]}/${encodeURIComponent(item.subject_id)}/acknowledge`, undefined, {
        headers: idempotent(),
      });
      replace(status, `${item.subject_id} acknowledged: received and read.`);
      await load();
    } catch (error) {
      replace(status, `Could not acknowledge ${item.subject_id}: ${error.message}`);
      button.disabled = false;
    }
  }

  function subjectLine(item) {
    if (item.subject_type === "message") {
      const message = data.messages.get(item.subject_id);
      if (!message) return [`Message ${item.subject_id}`];
      return [
        `${message.priority === "urgent" ? "Urgent: " : ""}${TYPE_NAMES[message.type]} from ${partyName(message.from)} (${item.subject_id})`,
        el("p", { class: "message-body" }, message.body),
      ];
    }
    const where = el("a", { href: `#/map?select=${encodeURIComponent(item.subject_id)}` }, "Show on the map");
    if (item.subject_type === "conflict") {
      const conflict = data.conflicts.get(item.subject_id);
      const other = conflict?.other_party?.code || "another party";
      return [`Conflict with ${other} (${item.subject_id}), revision ${item.version} `, where];
    }
    const notification = data.notifications.get(item.subject_id);
    const owner = notification ? `${partyName(notification.party?.id)}'s ` : "";
    return [`${owner}notification ${notification?.title || item.subject_id}, version ${item.version} `, where];
  }

  function inboxItem(item) {
    const open = item.state !== "acknowledged" && item.state !== "closed";
    const button = open
      ? el(
          "button",
          {
            type: "button",
            class: "primary",
            dataset: { key: `ack-${item.subject_id}` },
            title: "Acknowledge: received and read (never approval)",
          },
          "Acknowledge",
        )
      : null;
    if (button) button.addEventListener("click", () => acknowledge(item, button));
    return el(
      "li",
      { class: `inbox-item state-${item.state}`, dataset: { subject: item.subject_id } },
      el("div", { class: "item-head" }, subjectLine(item)),
      el(
        "p",
        { class: "item-state" },
        badge(item.state),
        open ? [` Deadline ${both(item.deadline)}`, countdownNode(item.deadline, item.state)] : "",
        item.acknowledged_at ? ` at ${utc(item.acknowledged_at)}` : "",
      ),
      button,
    );
  }

  function recipientStatus(item) {
    return el(
      "li",
      {},
      `${partyName(item.party_id)}: `,
      badge(item.state),
      item.state === "acknowledged" ? ` at ${utc(item.acknowledged_at)}` : countdownNode(item.deadline, item.state),
    );
  }

  function waitingItems() {
    const conflicts = [...data.conflicts.values()].filter((c) => c.state === "open").map((c) => {
      const acked = (c.acknowledgements || []).some((a) => a.party_id === c.other_party?.id && a.version === c.revision);
      return el(
        "li",
        { class: "waiting-item", dataset: { subject: c.id } },
        `Conflict ${c.id} with ${c.other_party?.code || "?"}: `,
        badge(acked ? "acknowledged" : "unacknowledged"),
      );
    });
    const sent = [...data.messages.values()].filter((m) => m.from === app.me.party.id).map((m) =>
      el(
        "li",
        { class: "waiting-item", dataset: { subject: m.id } },
        `${TYPE_NAMES[m.type]} ${m.id} sent ${utc(m.created_at)}`,
        el("ul", { class: "recipients" }, (m.recipients || []).map(recipientStatus)),
      ),
    );
    const items = [...conflicts, ...sent];
    return items.length ? items : [el("li", { class: "empty" }, "Nothing sent or in conflict yet.")];
  }

  function messageNode(message) {
    const own = message.from === app.me.party.id;
    const references = [...(message.references?.conflicts || []), ...(message.references?.notifications || [])];
    return el(
      "article",
      { class: `message${own ? " own" : ""}${message.system ? " system" : ""}`, dataset: { subject: message.id } },
      el(
        "p",
        { class: "message-meta" },
        `${partyName(message.from)} → ${message.to.map(partyName).join(", ")} · ${TYPE_NAMES[message.type]}`,
        message.priority === "urgent" ? " · urgent" : "",
        ` · ${both(message.created_at)}`,
        message.signature ? " · signed" : "",
      ),
      el("p", { class: "message-body" }, message.body),
      references.length
        ? el(
            "p",
            { class: "message-refs" },
            "Cites ",
            references.map((id, i) => [i ? ", " : "", el("a", { href: `#/map?select=${encodeURIComponent(id)}` }, id)]),
          )
        : null,
      message.own_status ? el("p", {}, "Your party: ", badge(message.own_status.state)) : null,
      own || message.system
        ? null
        : el("button", { type: "button", onclick: () => compose.replyTo(message) }, `Reply to ${partyName(message.from)}`),
    );
  }

  function threads() {
    const byThread = new Map();
    for (const message of [...data.messages.values()].reverse()) {
      if (!byThread.has(message.thread_id)) byThread.set(message.thread_id, []);
      byThread.get(message.thread_id).push(message);
    }
    const ordered = [...byThread.values()].sort((a, b) => b.at(-1).created_at.localeCompare(a.at(-1).created_at));
    if (!ordered.length) return [el("p", { class: "empty" }, "No messages on this line yet.")];
    return ordered.map((thread) =>
      el(
        "section",
        { class: "thread", "aria-label": `Thread ${thread[0].id}, ${thread.length} message(s)` },
        thread.map(messageNode),
      ),
    );
  }

  function render() {
    const focused = document.activeElement?.dataset?.key;
    ticks.length = 0;
    const items = data.inbox;
    replace(inboxList, items.length ? items.map(inboxItem) : el("li", { class: "empty" }, "Nothing to acknowledge."));
    replace(waitingList, waitingItems());
    replace(threadList, threads());
    if (focused) root.querySelector(`[data-key="${CSS.escape(focused)}"]`)?.focus();
  }

  function setUpCompose(notifications) {
    const others = [...data.parties.values()].filter((p) => p.id !== app.me.party.id);
    compose = composeForm(app, {
      others,
      conflicts: [...data.conflicts.values()],
      notifications,
      codeOf: partyName,
      onSent: () => load(),
    });
    replace(composeSlot, compose.node);
    const cited = app.params?.get("ref");
    if (cited) compose.cite(cited);
  }

  async function load() {
    const mechanism = encodeURIComponent(mechanismId);
    try {
      const [members, inbox, messages, conflicts, notifications] = await Promise.all([
        app.api.get(`/v1/mechanisms/${mechanism}/members`),
        app.api.get(`/v1/inbox${query({ mechanism_id: mechanismId, state: showAll.checked ? "all" : "pending", limit: LIMIT })}`),
        app.api.get(`/v1/messages${query({ mechanism_id: mechanismId, folder: "all", limit: LIMIT })}`),
        app.api.get(`/v1/conflicts${query({ mechanism: mechanismId, limit: LIMIT })}`),
        app.api.get(`/v1/mechanisms/${mechanism}/notifications${query({ limit: LIMIT })}`),
      ]);
      if (stopped) return;
      data = {
        parties: new Map(members.map((p) => [p.id, p])),
        inbox,
        messages: new Map(messages.map((m) => [m.id, m])),
        conflicts: new Map(conflicts.map((c) => [c.id, c])),
        notifications: new Map(notifications.map((n) => [n.id, n])),
      };
      if (compose) compose.update({ conflicts, notifications });
      else setUpCompose(notifications);
      render();
    } catch (error) {
      replace(status, `The line could not be loaded: ${error.message}`);
    }
  }

  const unsubscribe = app.events.subscribe((event) => {
    if (event.mechanism_id !== mechanismId) return;
    clearTimeout(timer);
    timer = setTimeout(load, RELOAD_DELAY_MS);
  });
  const ticker = setInterval(() => ticks.forEach((t) => tick(t.node, t.deadline, t.state)), TICK_MS);
  load();

  return () => {
    stopped = true;
    unsubscribe();
    clearTimeout(timer);
    clearInterval(ticker);
  };
}
