// Proof (#/proof): your receipts, viewable and downloadable as a proof file that
// `deconfliction receipt verify` accepts; the log's newest signed head, keys and a check in the
// browser that the log only grew since this tab first saw it. In a deployment over several
// databases each shard keeps its own log: a choice of log shows one at a time, and the proof
// file holds them all.

import { query } from "./api.js";
import { el, field, replace, select } from "./dom.js";
import { verifyConsistency, verifyHeadSignature } from "./merkle.js";
import { both, utc } from "./time.js";

const FORMAT = "deconfliction-receipts/v1";
const PAGE = 100;
const FIRST_HEAD_KEY = "deconfliction.first-head";

// One log's part of the proof file: every receipt the token may see in it, its newest heads and
// the consistency proofs between consecutive head sizes. `shard` names the log in a deployment
// over several databases (null: the home database's).
async function logProof(api, shard) {
  const view = await api.post(`/v1/log/head${query({ shard })}`);
  const heads = [view.tree_head];
  const receipts = [];
  let after = -1;
  while (after !== null) {
    const page = await api.get(`/v1/receipts${query({ after, limit: PAGE, shard })}`);
    receipts.push(...page.receipts);
    heads.push(page.tree_head);
    after = page.next_after;
  }
  const unique = [...new Map(heads.map((h) => [JSON.stringify(h), h])).values()];
  unique.sort((a, b) => a.tree_size - b.tree_size);
  const sizes = [...new Set(unique.map((h) => h.tree_size))];
  const consistency = [];
  for (let i = 1; i < sizes.length; i += 1) {
    if (sizes[i - 1] > 0) {
      consistency.push(await api.get(`/v1/log/consistency${query({ first: sizes[i - 1], second: sizes[i], shard })}`));
    }
  }
  return { view, receipts, heads: unique, consistency };
}

// The proof file `receipt download` writes: every shard's log (one, on a single database).
async function proofFile(api) {
  const home = await logProof(api, null);
  const parts = [home];
  for (const shard of (home.view.shards || []).slice(1)) parts.push(await logProof(api, shard));
  const view = home.view;
  return {
    document: {
      format: FORMAT,
      receipts: parts.flatMap((part) => part.receipts),
      tree_heads: parts.flatMap((part) => part.heads),
      consistency: parts.flatMap((part) => part.consistency),
      key_rotations: view.keys.filter((k) => k.announcement).map((k) => k.announcement),
    },
    firstKey: (view.keys.find((k) => !k.announcement) || view).public_key,
  };
}

function saveFile(name, content) {
  const blob = new Blob([`${JSON.stringify(content, null, 1)}\n`], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function receiptNode(receipt) {
  const entry = receipt.entry;
  return el(
    "li",
    {},
    el(
      "details",
      {},
      el("summary", {}, `#${receipt.leaf_index} ${entry.kind} — ${both(entry.at)}${entry.subject_id ? ` — ${entry.subject_id}` : ""}`),
      el("pre", { class: "json" }, JSON.stringify(receipt, null, 2)),
    ),
  );
}

function receiptsSection(app, shard) {
  const list = el("ul", { class: "receipts", "aria-label": "Receipts" });
  const more = el("button", { type: "button", hidden: true }, "Load more");
  const status = el("p", { class: "form-status", role: "status" });
  const download = el("button", { type: "button", class: "primary" }, "Download proof file");
  const who = app.me.role === "operator" ? "operator" : app.me.party.code;
  let after = -1;

  async function loadPage() {
    more.disabled = true;
    try {
      const page = await app.api.get(`/v1/receipts${query({ after, limit: PAGE, shard })}`);
      if (after === -1 && !page.receipts.length) replace(list, el("li", { class: "empty" }, "No entries yet."));
      else list.append(...page.receipts.map(receiptNode));
      after = page.next_after;
      more.hidden = after === null;
    } catch (error) {
      replace(status, `Receipts could not be loaded: ${error.message}`);
    } finally {
      more.disabled = false;
    }
  }

  download.addEventListener("click", async () => {
    download.disabled = true;
    replace(status, "Collecting every receipt, the newest head and the proofs between heads…");
    try {
      const { document: proof, firstKey } = await proofFile(app.api);
      const name = `receipts-${who}-${new Date().toISOString().slice(0, 19).replaceAll(":", "")}Z.json`;
      saveFile(name, proof);
      replace(
        status,
        `Saved ${name}: ${proof.receipts.length} receipts, ${proof.tree_heads.length} signed heads, `,
        `${proof.consistency.length} consistency proofs. Verify it offline, with the service's first `,
        "public key compared through a channel you trust: ",
        el("code", {}, `deconfliction receipt verify ${name} --key ${firstKey}`),
      );
    } catch (error) {
      replace(status, `The proof file could not be made: ${error.message}`);
    } finally {
      download.disabled = false;
    }
  });
  more.addEventListener("click", loadPage);
  loadPage();

  return el(
    "section",
    { class: "card", "aria-labelledby": "receipts-title" },
    el("h2", { id: "receipts-title" }, app.me.role === "operator" ? "Every log entry" : "Your receipts"),
    el(
      "p",
      {},
      "Each entry is the service's signed statement that it recorded something at a time. The proof file ",
      "holds them all with the signed heads they lead to; anyone can check it offline.",
    ),
    download,
    status,
    list,
    more,
  );
}

// The head of this log this tab first saw (kept for the tab's life), or `head` if it is the
// first; each log (each shard's) is compared with its own first head.
function firstSeen(head) {
  const key = `${FIRST_HEAD_KEY}.${head.log_id || "unnamed"}`;
  const kept = sessionStorage.getItem(key);
  if (kept) return JSON.parse(kept);
  sessionStorage.setItem(key, JSON.stringify(head));
  return head;
}

async function check(api, first, view, shard) {
  const newest = view.tree_head;
  const keyOf = (head) => view.keys.find((k) => k.key_id === head.key_id)?.public_key;
  const signatures = await Promise.all(
    [first, newest].map((head) => (keyOf(head) ? verifyHeadSignature(head, keyOf(head)) : false)),
  );
  let consistent;
  if (first.tree_size > newest.tree_size) consistent = false;
  else {
    const proof = first.tree_size === newest.tree_size
      ? { proof: [] }
      : await api.get(`/v1/log/consistency${query({ first: first.tree_size, second: newest.tree_size, shard })}`);
    consistent = await verifyConsistency(first.tree_size, newest.tree_size, proof.proof, first.root_hash, newest.root_hash);
  }
  return { consistent, signatures };
}

function verdict(first, view, { consistent, signatures }) {
  const newest = view.tree_head;
  const signed = signatures.includes(null)
    ? "This browser cannot check Ed25519 signatures, so the heads' signatures were not checked here."
    : signatures.every(Boolean)
      ? "Both heads' signatures verify with the keys the server presents."
      : "A head's signature does NOT verify with the key the server presents.";
  return el(
    "div",
    { class: `verdict ${consistent && !signatures.includes(false) ? "ok" : "bad"}`, role: "status" },
    el(
      "p",
      { class: "verdict-line" },
      !consistent
        ? `NOT consistent: the log of ${first.tree_size} entries this tab first saw is not a prefix of the newest log of ${newest.tree_size} entries. The log was rewritten, or shows this tab a different history.`
        : first.tree_size === newest.tree_size
          ? `Consistent: the newest head has the size (${newest.tree_size} entries) and root of the first head this tab saw; once the log grows, the check shows it only grew.`
          : `Consistent: the log of ${first.tree_size} entries this tab first saw (head of ${utc(first.timestamp)}) is a prefix of the newest log of ${newest.tree_size} entries.`,
    ),
    el("p", {}, signed),
    el("p", {}, "Checked in this browser:"),
    el(
      "ul",
      {},
      el("li", {}, "the consistency proof from the server, recomputed here with SHA-256 against both heads' roots;"),
      el("li", {}, "each head's Ed25519 signature, against the key the server names for it."),
    ),
    el("p", {}, "Not checked here:"),
    el(
      "ul",
      {},
      el("li", {}, "that those keys are the service's real keys: compare the first key with the other parties' through a channel you trust;"),
      el("li", {}, "the entries themselves: receipts with ", el("code", {}, "deconfliction receipt verify"), ", the whole log with ", el("code", {}, "deconfliction audit verify"), " on the database;"),
      el("li", {}, "whether the other parties were shown the same heads."),
    ),
  );
}

function keysTable(keys) {
  return el(
    "table",
    { class: "keys" },
    el("caption", {}, "The log's signing keys"),
    el("thead", {}, el("tr", {}, ["Key id", "Public key", "Activated", "Retired", "Introduced by"].map((h) => el("th", { scope: "col" }, h)))),
    el(
      "tbody",
      {},
      keys.map((k) =>
        el(
          "tr",
          {},
          el("td", {}, el("code", {}, k.key_id)),
          el("td", {}, el("code", { class: "wrap" }, k.public_key)),
          el("td", {}, both(k.activated_at)),
          el("td", {}, k.retired_at ? both(k.retired_at) : "—"),
          el("td", {}, k.announcement ? "an announcement signed by the previous key" : "none: the first key"),
        ),
      ),
    ),
  );
}

function logSection(app, shard) {
  const body = el("div", {}, el("p", {}, "Loading the newest signed head…"));
  const sign = el("button", { type: "button" }, "Sign a head now");
  const status = el("p", { class: "form-status", role: "status" });

  async function show(view) {
    const head = view.tree_head;
    const first = firstSeen(head);
    const result = await check(app.api, first, view, shard);
    replace(
      body,
      el(
        "dl",
        { class: "head" },
        el("dt", {}, "Log"), el("dd", {}, el("code", {}, head.log_id || "(unnamed)")),
        el("dt", {}, "Entries (tree size)"), el("dd", {}, String(head.tree_size)),
        el("dt", {}, "Root hash"), el("dd", {}, el("code", { class: "wrap" }, head.root_hash)),
        el("dt", {}, "Signed at"), el("dd", {}, both(head.timestamp)),
        el("dt", {}, "Key id"), el("dd", {}, el("code", {}, head.key_id)),
      ),
      verdict(first, view, result),
      keysTable(view.keys),
    );
  }

  async function run(load) {
    sign.disabled = true;
    try {
      await show(await load());
      replace(status, "");
    } catch (error) {
      replace(status, `The log could not be read: ${error.message}`);
    } finally {
      sign.disabled = false;
    }
  }

  sign.addEventListener("click", () => run(() => app.api.post(`/v1/log/head${query({ shard })}`)));
  run(() => app.api.get(`/v1/log/head${query({ shard })}`));
  return el(
    "section",
    { class: "card", "aria-labelledby": "log-title" },
    el("h2", { id: "log-title" }, "The transparency log"),
    sign,
    status,
    body,
  );
}

// Over several databases: the choice of the shard whose log the page shows (the home shard's
// first); on one database, nothing.
async function logChoice(app, show) {
  const shards = (await app.api.get("/v1/log/head")).shards || [];
  if (shards.length < 2) return null;
  const choice = select(shards.map((name) => [name, name]), { name: "shard" });
  choice.addEventListener("change", () => show(choice.value === shards[0] ? null : choice.value));
  return field("Log", choice, "Each shard of this deployment keeps its own log.").wrap;
}

export function mount(root, app) {
  root.classList.add("page");
  const grid = el("div", { class: "proof-grid" });
  const show = (shard) => replace(grid, receiptsSection(app, shard), logSection(app, shard));
  show(null);
  replace(root, el("h1", {}, "Proof"), grid);
  // A head that cannot be read leaves out the choice; the log section, reading it too, says why.
  logChoice(app, show)
    .then((choice) => choice && grid.before(choice))
    .catch(() => {});
}
