// The console's shell: sign-in, the header and its navigation, and a hash router over the views.
//
// A view module exports mount(root, app) → optional cleanup. `app` is
// {api, session, events, navigate, refreshMechanisms, me, mechanisms, mechanismId, params}:
// `me` is /v1/me's answer, `mechanisms` those the token sees, `mechanismId` the one chosen in
// the header and `params` the route's query (URLSearchParams of "#/map?select=ntf_…");
// `refreshMechanisms()` reads the mechanisms again after a view changed them.

import { createApi } from "./api.js";
import { startBanner } from "./banner.js";
import { el, replace } from "./dom.js";
import { createEvents } from "./events.js";
import * as lineView from "./line.js";
import * as mapView from "./map.js";
import * as operatorView from "./operator.js";
import * as proofView from "./proof.js";
import { createSession, mountSignIn } from "./session.js";
import * as timelineView from "./timeline.js";

const VIEWS = {
  map: { label: "Map", module: mapView, roles: ["party", "operator"] },
  timeline: { label: "Timeline", module: timelineView, roles: ["party", "operator"] },
  line: { label: "Line", module: lineView, roles: ["party"] },
  proof: { label: "Proof", module: proofView, roles: ["party", "operator"] },
  operator: { label: "Operator", module: operatorView, roles: ["operator"] },
};
const HOME = { party: "map", operator: "operator" };
const MECHANISM_KEY = "deconfliction.mechanism";
const REASON_KEY = "deconfliction.signed-out-because";
const REFUSED = "Your token was refused: signed out. It may have been revoked; sign in again with a valid token.";

const main = document.getElementById("main");
const header = document.getElementById("app-header");
const banner = document.getElementById("banner");

const session = createSession();
let signedIn = false;
// A 401 on any API call or on the live line: the token was revoked (or never known).
const refused = () => {
  if (signedIn) signOut(REFUSED);
};
const api = createApi(session.token, { onUnauthenticated: refused });
const events = createEvents(api, { onUnauthenticated: refused });
const app = { api, session, events, navigate, refreshMechanisms, me: null, mechanisms: [], mechanismId: "", params: null };
const chooserSlot = el("span", { class: "mechanism-slot" });
let cleanup = null;
let refreshBanner = null;

function navigate(path) {
  const target = path.startsWith("#") ? path : `#${path.startsWith("/") ? path : `/${path}`}`;
  if (location.hash === target) route();
  else location.hash = target;
}

function signOut(reason = "") {
  signedIn = false;
  events.stop();
  session.signOut();
  if (reason) sessionStorage.setItem(REASON_KEY, reason);
  // A reload tears down every view, timer and stream of the signed-in session at once.
  location.replace(location.pathname);
}

function parseHash() {
  const [path, search = ""] = location.hash.replace(/^#\/?/, "").split("?");
  return { name: path, params: new URLSearchParams(search) };
}

function allowed(name) {
  return VIEWS[name] && VIEWS[name].roles.includes(app.me.role);
}

function route() {
  if (!signedIn) return;
  const { name, params } = parseHash();
  if (!allowed(name)) {
    location.replace(`#/${HOME[app.me.role] || "proof"}`);
    return;
  }
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  for (const link of header.querySelectorAll("nav a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${VIEWS[name].label} — deconfliction`;
  app.params = params;
  const root = el("div", { class: `view view-${name}` });
  replace(main, root);
  try {
    cleanup = VIEWS[name].module.mount(root, app);
  } catch (error) {
    replace(root, el("p", { class: "error", role: "alert" }, `This view failed: ${error.message}`));
    console.error(error);
  }
}

function liveIndicator() {
  const node = el("span", { class: "live", role: "status", "aria-live": "polite" }, "Line: connecting…");
  const labels = {
    connecting: "Line: connecting…",
    live: "Line: live",
    reconnecting: "Line: reconnecting",
    stopped: "Line: stopped",
  };
  events.onStatus((status, detail) => {
    node.dataset.status = status;
    replace(node, labels[status] || status, detail ? ` (${detail})` : "");
  });
  return node;
}

function mechanismChooser() {
  if (app.mechanisms.length < 2) return null;
  const chooser = el(
    "select",
    { id: "mechanism-choice", onchange: () => {
      app.mechanismId = chooser.value;
      sessionStorage.setItem(MECHANISM_KEY, chooser.value);
      route();
    } },
    app.mechanisms.map((m) => el("option", { value: m.id, selected: m.id === app.mechanismId }, m.name)),
  );
  return el("span", { class: "mechanism-choice" }, el("label", { for: "mechanism-choice" }, "Mechanism"), chooser);
}

// After the operator made a mechanism (or added a member): the mechanisms again, for the
// header's chooser and the banner. The chosen one stays chosen while it is there.
async function refreshMechanisms() {
  try {
    app.mechanisms = await api.get("/v1/mechanisms");
  } catch (error) {
    console.error(error);
    return;
  }
  if (!app.mechanisms.some((m) => m.id === app.mechanismId)) app.mechanismId = app.mechanisms[0]?.id || "";
  replace(chooserSlot, mechanismChooser());
  refreshBanner();
}

function renderHeader() {
  const who = app.me.role === "operator"
    ? "Operator"
    : `${app.me.party.code} — ${app.me.party.name}`;
  const links = Object.entries(VIEWS)
    .filter(([name]) => allowed(name))
    .map(([name, view]) => el("li", {}, el("a", { href: `#/${name}`, dataset: { view: name } }, view.label)));
  replace(
    header,
    el("span", { class: "brand" }, "Deconfliction"),
    el("nav", { "aria-label": "Views" }, el("ul", {}, links)),
    replace(chooserSlot, mechanismChooser()),
    el("span", { class: "who", title: "Signed in as" }, who),
    liveIndicator(),
    el("button", { type: "button", class: "sign-out", onclick: () => signOut() }, "Sign out"),
  );
  header.hidden = false;
}

async function start(me) {
  app.me = me;
  try {
    app.mechanisms = await api.get("/v1/mechanisms");
  } catch (error) {
    app.mechanisms = [];
    console.error(error);
  }
  const remembered = sessionStorage.getItem(MECHANISM_KEY);
  app.mechanismId = app.mechanisms.some((m) => m.id === remembered)
    ? remembered
    : app.mechanisms[0]?.id || "";
  signedIn = true;
  renderHeader();
  events.start();
  refreshBanner = startBanner(banner, app);
  window.addEventListener("hashchange", route);
  route();
}

async function boot() {
  const reason = sessionStorage.getItem(REASON_KEY) || "";
  sessionStorage.removeItem(REASON_KEY);
  if (session.token()) {
    try {
      await start(await api.get("/v1/me"));
      return;
    } catch {
      session.signOut();
    }
  }
  header.hidden = true;
  mountSignIn(main, { session, api, reason, onSignedIn: start });
}

boot();
