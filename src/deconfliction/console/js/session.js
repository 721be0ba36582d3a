// Sign-in with a party or operator token kept in sessionStorage (never in a URL), and sign-out.

import { el, field, replace } from "./dom.js";

const KEY = "deconfliction.token";

// The session: the token of this browser tab, if signed in.
export function createSession() {
  return {
    token: () => sessionStorage.getItem(KEY) || "",
    store: (token) => sessionStorage.setItem(KEY, token),
    signOut: () => sessionStorage.removeItem(KEY),
  };
}

// Renders the sign-in form into `root`, with `reason` (why the last session ended) above it.
// On submit the token is tried against /v1/me with `api`; `onSignedIn(me)` is called when it
// is accepted, the API's reason shown when not.
export function mountSignIn(root, { session, api, onSignedIn, reason = "" }) {
  const tokenInput = el("input", {
    type: "password",
    name: "token",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
  });
  const tokenField = field("Access token", tokenInput, "A party's or the operator's token (dcf_…). It is kept in this tab only and cleared when the tab closes.");
  const status = el("p", { class: "form-status", role: "status" });
  const submit = el("button", { type: "submit", class: "primary" }, "Sign in");
  const form = el(
    "form",
    { class: "sign-in", "aria-labelledby": "sign-in-title", novalidate: true },
    el("h1", { id: "sign-in-title" }, "Deconfliction console"),
    reason ? el("p", { class: "signed-out", role: "alert" }, reason) : null,
    el("p", {}, "Sign in with your access token. Acknowledged always means received and read — never approved, never safe."),
    tokenField.wrap,
    submit,
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = tokenInput.value.trim();
    if (!token) {
      replace(tokenField.error, "Enter your access token.");
      tokenInput.focus();
      return;
    }
    submit.disabled = true;
    replace(status, "Checking the token…");
    session.store(token);
    try {
      const me = await api.get("/v1/me");
      tokenInput.value = "";
      onSignedIn(me);
    } catch (error) {
      session.signOut();
      replace(tokenField.error, error.status === 401 ? "This token is not accepted (unknown or revoked)." : error.message);
      replace(status, "");
      tokenInput.focus();
    } finally {
      submit.disabled = false;
    }
  });
  replace(root, form);
  tokenInput.focus();
}
