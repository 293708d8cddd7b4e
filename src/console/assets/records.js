// The records several pages show (activations, licenses, uploads, timelines of events and
// marketplace calls), with the links between them and the changes made from their rows.

import { h, enc, dash, text, mono, when, shortHash, badge, yesNo, describe } from "./dom.js";
import { api, ApiError, SessionEnded, describeError, isAdmin } from "./api.js";
import { showError, link, table, act, actionButton } from "./ui.js";

// Calls merged into a code's or an instance's timeline; the journal shows the rest.
const TIMELINE_CALLS = 100;

// ---- Row actions -----------------------------------------------------------------------------

function resetButton(a) {
  if (!a.live) return null;
  const key = `reset:${a.id}`;
  return actionButton("Reset binding", key, () => act({
    title: "Reset binding",
    description: `Frees the seat held by ${a.hostname || "this machine"} `
      + `(fingerprint ${a.fingerprint_sha256.slice(0, 12)}…). Its check-ins answer NOT_ACTIVATED `
      + "from now on; its license file is not revoked.",
    run: (reason) => api("DELETE", `/activations/${enc(a.id)}`, { query: { reason } }),
    done: (r) => `Binding reset: seats now ${r.seats.used} / ${r.seats.total}.`,
    focus: key,
  }), "secondary");
}

export function licenseStateButton(l) {
  if (!isAdmin()) return null;
  const revoke = !l.revoked;
  const key = `license-state:${l.id}`;
  return actionButton(revoke ? "Revoke" : "Reinstate", key, () => act({
    title: revoke ? "Revoke license" : "Reinstate license",
    description: revoke
      ? `License ${l.id}: check-ins will answer REVOKED and activations LICENSE_REVOKED until it is reinstated.`
      : `License ${l.id} will work again.`,
    run: (reason) => api("POST", `/licenses/${enc(l.id)}/${revoke ? "revoke" : "reinstate"}`, { body: { reason } }),
    done: () => (revoke ? `License ${l.id} revoked.` : `License ${l.id} reinstated.`),
    focus: key,
  }), revoke ? "danger" : "secondary");
}

function retryButton(u) {
  if (u.status !== "failed") return null;
  const key = `retry:${u.id}`;
  return actionButton("Retry", key, () => act({
    title: "Retry upload",
    description: `Upload ${u.id}${u.license_id ? ` of license ${u.license_id}` : ""} runs again now, with fresh attempts.`,
    run: (reason) => api("POST", `/uploads/${enc(u.id)}/retry`, { body: { reason } }),
    done: () => "Upload queued again.",
    focus: key,
  }), "secondary");
}

function saveFile(name, content) {
  const url = URL.createObjectURL(new Blob([content], { type: "application/octet-stream" }));
  const a = h("a", { href: url, download: name, class: "visually-hidden" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// Lists of licenses carry no file: it is fetched from the license's detail.
export function downloadButton(l) {
  return h("button", {
    type: "button", class: "secondary",
    onclick: async (event) => {
      const button = event.currentTarget;
      button.disabled = true;
      try {
        const file = typeof l.file === "string" ? l.file : (await api("GET", `/licenses/${enc(l.id)}`)).license.file;
        if (typeof file !== "string") throw new ApiError(0, null, "This license has no file.");
        saveFile(`koolicense-${l.id}.lic`, file);
      } catch (error) {
        showError(error);
      } finally {
        button.disabled = false;
      }
    },
  }, "Download");
}

// ---- Shared tables ---------------------------------------------------------------------------

export const codeLink = (id, label) => (id ? h("a", { href: link(["codes", id]) }, label || id) : dash());
export const instanceLink = (id) => (id ? h("a", { href: link(["instances", id]) }, h("code", { class: "mono" }, id)) : dash());
export const licenseLink = (id) => (id ? h("a", { href: link(["licenses", id]) }, h("code", { class: "mono" }, id)) : dash());
export const journalLink = (filter, label) => h("a", { href: link(["journal"], filter) }, label);

function activationState(a) {
  if (a.live) return badge("live");
  return [badge("deactivated"), " ", when(a.deactivated_at), a.deactivated_by ? ` by ${a.deactivated_by}` : ""];
}

export function activationsTable(activations) {
  return table("Activations", [
    ["Hostname", (a) => text(a.hostname)],
    ["Fingerprint (SHA-256)", (a) => shortHash(a.fingerprint_sha256)],
    ["Bound", (a) => when(a.created_at)],
    ["State", activationState],
    ["Action", resetButton],
  ], [...activations].reverse(), "No machine has activated this code.");
}

export function licensesTable(licenses) {
  return table("Licenses", [
    ["License", (l) => licenseLink(l.id)],
    ["Revision", (l) => String(l.revision), "num"],
    ["Fingerprint (SHA-256)", (l) => shortHash(l.fingerprint_sha256)],
    ["Not before", (l) => when(l.not_before)],
    ["Expires", (l) => when(l.expires_at, "perpetual")],
    ["Revoked", (l) => yesNo(l.revoked, "bad")],
    ["Actions", (l) => h("div", { class: "row-actions" }, downloadButton(l), licenseStateButton(l))],
  ], [...licenses].reverse(), "No license has been issued.");
}

export const UPLOAD_COLUMNS = [
  ["Upload", (u) => mono(u.id)],
  ["Status", (u) => badge(u.status)],
  ["Attempts", (u) => `${u.attempts} / ${u.max_attempts}`, "num"],
  ["Next attempt", (u) => (u.status === "pending" ? when(u.run_at) : dash())],
  ["License", (u) => licenseLink(u.license_id)],
  ["Event", (u) => mono(u.event_id)],
  ["Last error", (u) => text(u.last_error), "wrap"],
  ["Created", (u) => when(u.created_at)],
  ["Updated", (u) => when(u.updated_at)],
  ["Action", (u) => retryButton(u)],
];

export const uploadsTable = (uploads) => table("Uploads", UPLOAD_COLUMNS, uploads, "No uploads match.");

export function callResult(c) {
  return [
    badge(c.ok ? "ok" : "error"), " ", h("code", { class: "mono" }, c.result_code),
    c.http_status ? ` · HTTP ${c.http_status}` : "", ` · ${c.latency_ms} ms`,
    c.test_flag ? [" ", badge("test", "muted")] : "",
  ];
}

// Events and marketplace calls, newest first.
export function timeline(events, calls = []) {
  const rows = [
    ...events.map((e) => ({
      at: e.created_at, id: e.id, source: "event", what: `${e.subject_type}: ${e.kind}`,
      result: dash(), detail: describe(e.detail),
    })),
    ...calls.map((c) => ({
      at: c.created_at, id: c.id, source: `${c.direction} call`, what: c.activity,
      result: callResult(c), detail: text(c.detail),
    })),
  ];
  rows.sort((a, b) => (Date.parse(b.at) - Date.parse(a.at)) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  return table("Timeline", [
    ["Time", (r) => when(r.at)],
    ["Source", (r) => r.source],
    ["What", (r) => r.what],
    ["Result", (r) => r.result],
    ["Detail", (r) => r.detail, "wrap"],
  ], rows, "Nothing has happened yet.");
}

// A page of journalled calls for a timeline; a failure leaves the rest of the page usable.
export async function callsFor(filter) {
  try {
    const page = await api("GET", "/marketplace/calls", { query: { ...filter, limit: TIMELINE_CALLS } });
    return { items: page.items, more: Boolean(page.next_cursor) };
  } catch (error) {
    if (error instanceof SessionEnded) throw error;
    return { items: [], error };
  }
}

// One timeline's calls from several lookups: each call once, newest first.
export function mergeCalls(pages) {
  const failed = pages.find((page) => page.error);
  if (failed) return failed;
  const byId = new Map();
  for (const page of pages) for (const call of page.items) byId.set(call.id, call);
  const items = [...byId.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  return { items, more: pages.some((page) => page.more) };
}

export function callsNote(calls, filter, what) {
  if (!calls) {
    return h("p", { class: "hint" }, `Marketplace calls are found by order id, and this ${what} has none: only its events are shown.`);
  }
  if (calls.error) return h("p", { class: "inline-warning" }, `Marketplace calls could not be loaded: ${describeError(calls.error)}`);
  return h("p", { class: "hint" },
    calls.more ? `Only the latest ${TIMELINE_CALLS} marketplace calls are shown. ` : "Events and marketplace calls, newest first. ",
    journalLink(filter, "Open these calls in the journal"));
}
