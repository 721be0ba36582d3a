// The alarm banner: what of yours the other side has left overdue, your own overdue items, and
// members gone silent — refreshed from the event stream and a timer.

import { query } from "./api.js";
import { TYPE_NAMES } from "./compose.js";
import { el, replace } from "./dom.js";
import { utc } from "./time.js";

const REFRESH_MS = 30000;
const EVENT_DELAY_MS = 500;
const LIMIT = 200;

// The open conflicts whose other side has not acknowledged the current revision in time.
// A conflict's deadline runs from its latest revision (updated_at) for the mechanism's
// urgent_ack_deadline_min, as the service sets it (services/announcements.py).
function overdueConflicts(conflicts, mechanisms, now) {
  return conflicts.filter((c) => {
    const rules = mechanisms.find((m) => m.id === c.mechanism_id)?.rules;
    if (c.state !== "open" || !rules || !c.other_party) return false;
    const acknowledged = (c.acknowledgements || []).some((a) => a.party_id === c.other_party.id && a.version === c.revision);
    return !acknowledged && Date.parse(c.updated_at) + rules.urgent_ack_deadline_min * 60000 <= now;
  });
}

// The alarms of a party: [{text, href}]; `code` names a party id, `now` is the server's time.
async function partyAlarms(app, code, now) {
  const [sent, conflicts, ownOverdue] = await Promise.all([
    app.api.get(`/v1/messages${query({ folder: "sent", limit: LIMIT })}`),
    app.api.get(`/v1/conflicts${query({ state: "open", limit: LIMIT })}`),
    app.api.get(`/v1/inbox${query({ state: "overdue", limit: LIMIT })}`),
  ]);
  const alarms = [];
  for (const message of sent) {
    for (const item of message.recipients || []) {
      if (item.state === "overdue") {
        alarms.push({
          text: `Your ${TYPE_NAMES[message.type].toLowerCase()} ${message.id} is overdue with ${code(item.party_id)}: its deadline, ${utc(item.deadline)}, passed unacknowledged. Do not assume it was read.`,
          href: "#/line",
        });
      }
    }
  }
  for (const conflict of overdueConflicts(conflicts, app.mechanisms, now)) {
    alarms.push({
      text: `Conflict ${conflict.id} is overdue with ${conflict.other_party.code}: they have not acknowledged it. Do not assume they know.`,
      href: `#/map?select=${encodeURIComponent(conflict.id)}`,
    });
  }
  if (ownOverdue.length) {
    alarms.push({ text: `You have ${ownOverdue.length} overdue item(s) to acknowledge.`, href: "#/line" });
  }
  return alarms;
}

// Silent members and (for the operator) members with overdue items, from each mechanism's status.
function lineAlarms(app, statuses) {
  const alarms = [];
  statuses.forEach((status, i) => {
    const where = app.mechanisms.length > 1 ? ` in ${app.mechanisms[i].name}` : "";
    for (const member of status.members) {
      if (member.party.id === app.me.party?.id) continue;
      if (member.silent) {
        const since = member.last_contact_at ? `since ${utc(member.last_contact_at)}` : "ever";
        alarms.push({
          text: `The line is silent${where}: ${member.party.code} has not contacted the service ${since}.`,
          href: app.me.party ? "#/line" : "#/operator",
        });
      }
      if (app.me.role === "operator" && member.overdue_items) {
        alarms.push({ text: `${member.party.code} has ${member.overdue_items} overdue item(s)${where}.`, href: "#/operator" });
      }
    }
  });
  return alarms;
}

// Starts the banner in `region`; returns a function that refreshes it at once (after the
// mechanisms changed, say). The banner lasts as long as the page: signing out reloads it.
export function startBanner(region, app) {
  let shown = "";
  let timer = null;
  let runs = 0;

  async function refresh() {
    // Refreshes may overlap (a timer, an event, a request): only the latest one is shown.
    const run = ++runs;
    let alarms;
    try {
      const statuses = await Promise.all(
        app.mechanisms.map((m) => app.api.get(`/v1/mechanisms/${encodeURIComponent(m.id)}/status`)),
      );
      const codes = new Map(statuses.flatMap((s) => s.members.map((m) => [m.party.id, m.party.code])));
      // The server's clock, not this computer's, decides what is overdue.
      const now = statuses.length ? Date.parse(statuses[0].at) : Date.now();
      const own = app.me.party ? await partyAlarms(app, (id) => codes.get(id) || id, now) : [];
      alarms = [...own, ...lineAlarms(app, statuses)];
    } catch (error) {
      alarms = [{ text: `The line's state could not be checked: ${error.message}`, href: "#/line" }];
    }
    const text = JSON.stringify(alarms);
    if (run !== runs || text === shown) return;
    shown = text;
    if (!alarms.length) {
      replace(region);
      return;
    }
    replace(
      region,
      el(
        "div",
        { class: "banner", role: "alert" },
        el("strong", {}, "Attention: "),
        el("ul", {}, alarms.map((a) => el("li", {}, el("a", { href: a.href }, a.text)))),
      ),
    );
  }

  app.events.subscribe((event) => {
    if (!/^(line|message|conflict)\./.test(event.type)) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, EVENT_DELAY_MS);
  });
  setInterval(refresh, REFRESH_MS);
  refresh();
  return refresh;
}
