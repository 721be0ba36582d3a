// Operator (#/operator): mechanisms with their rules and members, parties, and parties' tokens.

import { idempotent } from "./api.js";
import { el, field, replace, select } from "./dom.js";
import { createTokens } from "./operator_tokens.js";
import { clearProblem, showProblem } from "./problems.js";
import { both } from "./time.js";

// The rules a mechanism may set, with their descriptions, from the API's own OpenAPI schema.
async function ruleSchema(api) {
  const spec = await api.get("/openapi.json");
  return Object.entries(spec.components.schemas.RulesIn.properties).map(([name, property]) => ({
    name,
    description: property.description || "",
    choices: (property.anyOf || []).find((option) => option.enum)?.enum || null,
  }));
}

// A form: its fields (API name → dom.field entry) laid out as `nodes`, a status line, and submit
// handling that shows the API's refusal next to the fields it names.
function apiForm(title, fields, submitLabel, send, nodes = Object.values(fields).map((entry) => entry.wrap)) {
  const status = el("p", { class: "form-status", role: "status" });
  const submit = el("button", { type: "submit", class: "primary" }, submitLabel);
  const form = el(
    "form",
    { class: "operator-form", novalidate: true },
    el("h3", {}, title),
    nodes,
    submit,
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearProblem(fields, status);
    submit.disabled = true;
    try {
      replace(status, await send());
      form.reset();
    } catch (error) {
      showProblem(error, fields, status);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

// "ack_deadline_min" → "Ack deadline (min)": the rule's name with its unit apart.
const UNITS = { m: "m", min: "min", h: "h", km2: "km²" };
function ruleLabel(name) {
  const words = name.split("_");
  const unit = UNITS[words.at(-1)];
  const text = (unit ? words.slice(0, -1) : words).join(" ");
  return `${text[0].toUpperCase()}${text.slice(1)}${unit ? ` (${unit})` : ""}`;
}

// A rule's value as typed: empty → left to the default; a number → the number; anything else
// is sent as typed so the API names the field and says why.
function ruleValue(text) {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  const number = Number(trimmed);
  return Number.isFinite(number) ? number : trimmed;
}

function mechanismForm(app, rules, reload) {
  const fields = { name: field("Name", el("input", { type: "text", required: true })) };
  for (const rule of rules) {
    const control = rule.choices
      ? select([["", "default"], ...rule.choices.map((c) => [c, c])])
      : el("input", { type: "text", inputmode: "decimal", placeholder: "default" });
    fields[`rules.${rule.name}`] = field(ruleLabel(rule.name), control, rule.description);
  }
  return apiForm("Create a mechanism", fields, "Create mechanism", async () => {
    const chosen = rules
      .map((rule) => {
        const value = fields[`rules.${rule.name}`].input.value;
        return [rule.name, rule.choices ? value || undefined : ruleValue(value)];
      })
      .filter(([, value]) => value !== undefined);
    const body = { name: fields.name.input.value, rules: Object.fromEntries(chosen) };
    const made = await app.api.post("/v1/mechanisms", body, { headers: idempotent() });
    reload();
    app.refreshMechanisms();
    return `Created ${made.name} (${made.id}). Its rules are fixed from now on.`;
  }, [
    fields.name.wrap,
    el(
      "fieldset",
      {},
      el("legend", {}, "Rules (empty: the default; they cannot be changed later)"),
      el("div", { class: "rule-fields" }, rules.map((rule) => fields[`rules.${rule.name}`].wrap)),
    ),
  ]);
}

function partyForm(app, reload) {
  const fields = {
    name: field("Party name", el("input", { type: "text", required: true })),
    code: field("Code", el("input", { type: "text", required: true }), "2–32 upper-case letters, digits, - or _; unique."),
    contact: field("Contact", el("input", { type: "text" }), "How the other side reaches this party's liaison cell."),
  };
  return apiForm("Create a party", fields, "Create party", async () => {
    const body = { name: fields.name.input.value, code: fields.code.input.value, contact: fields.contact.input.value };
    const made = await app.api.post("/v1/parties", body, { headers: idempotent() });
    reload();
    return `Created ${made.code} (${made.id}).`;
  });
}

function memberForm(app, mechanism, parties, members, reload) {
  const outside = parties.filter((p) => !members.some((m) => m.id === p.id));
  if (!outside.length) return el("p", {}, "Every party is a member.");
  const fields = {
    party_id: field(
      `Party to add to ${mechanism.name}`,
      select(outside.map((p) => [p.id, `${p.code} — ${p.name}`])),
    ),
  };
  return apiForm("Add a member", fields, "Add member", async () => {
    const path = `/v1/mechanisms/${encodeURIComponent(mechanism.id)}/members`;
    await app.api.post(path, { party_id: fields.party_id.input.value }, { headers: idempotent() });
    reload();
    // The banner watches every member of every mechanism for silence.
    app.refreshMechanisms();
    return "Added.";
  });
}

function rulesList(mechanism, rules) {
  return el(
    "dl",
    { class: "rules" },
    Object.entries(mechanism.rules).map(([name, value]) => [
      el("dt", {}, ruleLabel(name)),
      el("dd", {}, String(value), el("span", { class: "field-hint" }, ` — ${rules.find((r) => r.name === name)?.description || ""}`)),
    ]),
  );
}

function mechanismNode(app, mechanism, rules, parties, members, reload) {
  return el(
    "article",
    { class: "mechanism", "aria-label": `Mechanism ${mechanism.name}` },
    el("h3", {}, `${mechanism.name} `, el("code", {}, mechanism.id)),
    el("p", {}, `Created ${both(mechanism.created_at)}.`),
    el("details", {}, el("summary", {}, "Rules (set at creation)"), rulesList(mechanism, rules)),
    el("h4", {}, "Members"),
    members.length
      ? el("ul", {}, members.map((m) => el("li", {}, `${m.code} — ${m.name}, since ${both(m.joined_at)}`)))
      : el("p", {}, "No members yet."),
    memberForm(app, mechanism, parties, members, reload),
  );
}

function partiesTable(parties) {
  return el(
    "table",
    { class: "parties" },
    el("caption", {}, "Every party"),
    el("thead", {}, el("tr", {}, ["Code", "Name", "Contact", "Id"].map((h) => el("th", { scope: "col" }, h)))),
    el(
      "tbody",
      {},
      parties.map((p) => el("tr", {}, el("td", {}, p.code), el("td", {}, p.name), el("td", {}, p.contact), el("td", {}, el("code", {}, p.id)))),
    ),
  );
}

export function mount(root, app) {
  root.classList.add("page");
  const status = el("p", { class: "form-status", role: "status" });
  const mechanismsSlot = el("div", { class: "mechanisms" });
  const partiesSlot = el("div", {});
  const tokens = createTokens(app);
  let rules = [];
  let stopped = false;

  async function reload() {
    try {
      const [mechanisms, parties] = await Promise.all([app.api.get("/v1/mechanisms"), app.api.get("/v1/parties")]);
      const members = await Promise.all(
        mechanisms.map((m) => app.api.get(`/v1/mechanisms/${encodeURIComponent(m.id)}/members`)),
      );
      if (stopped) return;
      replace(
        mechanismsSlot,
        mechanisms.length
          ? mechanisms.map((m, i) => mechanismNode(app, m, rules, parties, members[i], reload))
          : el("p", {}, "No mechanisms yet."),
      );
      replace(partiesSlot, partiesTable(parties));
      tokens.setParties(parties);
    } catch (error) {
      replace(status, `Could not load: ${error.message}`);
    }
  }

  replace(
    root,
    el("h1", {}, "Operator"),
    status,
    el(
      "div",
      { class: "operator-grid" },
      el("section", { class: "card", "aria-labelledby": "mechanisms-title" }, el("h2", { id: "mechanisms-title" }, "Mechanisms"), mechanismsSlot),
      el("section", { class: "card", "aria-labelledby": "parties-title" }, el("h2", { id: "parties-title" }, "Parties"), partiesSlot, partyForm(app, reload)),
      el("section", { class: "card", "aria-labelledby": "tokens-title" }, el("h2", { id: "tokens-title" }, "Tokens"), tokens.node),
    ),
  );
  ruleSchema(app.api)
    .then((schema) => {
      rules = schema;
      mechanismsSlot.after(mechanismForm(app, rules, reload));
    })
    .catch((error) => replace(status, `The rules could not be read from /openapi.json: ${error.message}`))
    .then(reload);
  return () => {
    stopped = true;
  };
}
