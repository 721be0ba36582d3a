// The operator's tokens panel: a party's tokens, revocation, and a new token shown only once.

import { idempotent } from "./api.js";
import { el, field, replace } from "./dom.js";
import { clearProblem, showProblem } from "./problems.js";
import { both } from "./time.js";

// The new token, once: a warning, the value selected for copying, and a copy button.
function shownOnce(party, made, onDone) {
  const value = el("input", { type: "text", readonly: true, value: made.token, spellcheck: "false", class: "token-value" });
  const entry = field("New token", value);
  const copied = el("p", { class: "form-status", role: "status" });
  const copy = el("button", { type: "button", class: "primary" }, "Copy token");
  copy.addEventListener("click", async () => {
    value.select();
    try {
      await navigator.clipboard.writeText(made.token);
      replace(copied, "Copied to the clipboard.");
    } catch {
      replace(copied, "This browser did not allow copying: the token is selected, press Ctrl+C.");
    }
  });
  const box = el(
    "div",
    { class: "token-once", role: "alert" },
    el("h3", {}, `New token for ${party.code}: shown only this once`),
    el(
      "p",
      {},
      "Copy it now and hand it to the party through a channel you trust. The service keeps only its hash: ",
      "it can never be shown again. If it is lost, revoke it and create another.",
    ),
    entry.wrap,
    copy,
    el("button", { type: "button", onclick: onDone }, "I have copied it: hide it"),
    copied,
  );
  setTimeout(() => value.select());
  return box;
}

// createTokens(app) → {node, setParties(parties)}.
export function createTokens(app) {
  const chooser = field("Party", el("select", {}));
  const list = el("div", {});
  const once = el("div", {});
  const label = field("Label", el("input", { type: "text" }), "Whose token this is, e.g. duty desk.");
  const status = el("p", { class: "form-status", role: "status" });
  const create = el("button", { type: "submit", class: "primary" }, "Create token");
  const form = el("form", { class: "operator-form", novalidate: true }, el("h3", {}, "Create a token"), label.wrap, create, status);
  let parties = [];

  const party = () => parties.find((p) => p.id === chooser.input.value);

  function revokeButton(token) {
    const cell = el("td", {});
    const ask = el("button", { type: "button" }, "Revoke");
    ask.addEventListener("click", () => {
      const yes = el("button", { type: "button", class: "danger" }, `Revoke ${token.id} now`);
      const no = el("button", { type: "button", onclick: () => replace(cell, ask) }, "Keep it");
      yes.addEventListener("click", async () => {
        yes.disabled = true;
        try {
          await app.api.del(`/v1/tokens/${encodeURIComponent(token.id)}`);
          await loadTokens();
        } catch (error) {
          replace(cell, `Not revoked: ${error.message}`);
        }
      });
      replace(cell, yes, " ", no);
      yes.focus();
    });
    return replace(cell, ask);
  }

  async function loadTokens() {
    const chosen = party();
    if (!chosen) {
      replace(list, el("p", {}, "No parties yet."));
      return;
    }
    try {
      const tokens = await app.api.get(`/v1/parties/${encodeURIComponent(chosen.id)}/tokens`);
      replace(
        list,
        el(
          "table",
          { class: "tokens" },
          el("caption", {}, `Tokens of ${chosen.code}`),
          el("thead", {}, el("tr", {}, ["Label", "Id", "Created", "Revoked", ""].map((h) => el("th", { scope: "col" }, h)))),
          el(
            "tbody",
            {},
            tokens.map((t) =>
              el(
                "tr",
                {},
                el("td", {}, t.label || "—"),
                el("td", {}, el("code", {}, t.id)),
                el("td", {}, both(t.created_at)),
                el("td", {}, t.revoked_at ? both(t.revoked_at) : "—"),
                t.revoked_at ? el("td", {}) : revokeButton(t),
              ),
            ),
          ),
        ),
      );
    } catch (error) {
      replace(list, el("p", { class: "error" }, `Could not load the tokens: ${error.message}`));
    }
  }

  chooser.input.addEventListener("change", () => {
    replace(once);
    loadTokens();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = { label };
    clearProblem(fields, status);
    const chosen = party();
    if (!chosen) return;
    create.disabled = true;
    try {
      const path = `/v1/parties/${encodeURIComponent(chosen.id)}/tokens`;
      const made = await app.api.post(path, { label: label.input.value }, { headers: idempotent() });
      form.reset();
      replace(once, shownOnce(chosen, made, () => replace(once)));
      await loadTokens();
    } catch (error) {
      showProblem(error, fields, status);
    } finally {
      create.disabled = false;
    }
  });

  return {
    node: el("div", { class: "tokens-panel" }, chooser.wrap, once, list, form),
    setParties(next) {
      const current = chooser.input.value;
      parties = next;
      replace(
        chooser.input,
        parties.map((p) => el("option", { value: p.id, selected: p.id === current }, `${p.code} — ${p.name}`)),
      );
      loadTokens();
    },
  };
}
