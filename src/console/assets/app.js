// The koolicense support console: one page over the admin API (/admin/v1) of this origin.
//
// Everything on screen is built with createElement and text nodes: the page's CSP forbids
// inline code, and nothing the API returns is ever parsed as HTML. The admin token lives only
// in sessionStorage and in the Authorization header; it never goes into a URL, a cookie, the
// DOM or the console.
"use strict";

// ---- Constants -------------------------------------------------------------------------------

const TOKEN_KEY = "koolicense.token";
const API_BASE = "/admin/v1";
const PAGE_SIZE = 20;
// Calls merged into a code's or an instance's timeline; the journal shows the rest.
const TIMELINE_CALLS = 100;

const CODE_STATUSES = ["ALIVE", "EXPIRED", "RELEASED", "FROZEN"];
const INSTANCE_STATUSES = ["ACTIVE", "FROZEN", "RELEASED"];
const UPLOAD_STATUSES = ["pending", "running", "done", "failed"];
const ACTIVITIES = [
  "newInstance", "refreshInstance", "updateInstanceStatus", "releaseInstance", "upgradeInstance",
  "queryInstance", "getLicenseAsync", "refreshLicenseCode", "updateLicenseCodeStatus",
  "releaseLicenseCode", "activate", "query", "order_query", "upload", "usage",
];
const AUDIT_ACTIONS = [
  "activation.reset", "license.revoke", "license.reinstate", "upload.retry", "token.create",
  "token.revoke",
];
const AUDIT_TARGETS = ["license", "activation", "upload", "token"];

const NAV = [
  { key: "codes", label: "Codes" },
  { key: "instances", label: "Instances" },
  { key: "uploads", label: "Uploads" },
  { key: "health", label: "Health" },
  { key: "journal", label: "Journal" },
  { key: "audit", label: "Audit" },
  { key: "tokens", label: "Tokens", admin: true },
];

// ---- DOM helpers -----------------------------------------------------------------------------

const $ = (selector) => document.querySelector(selector);
const enc = encodeURIComponent;

// h("a", { href: "#/codes", onclick: fn }, "Codes"): attributes are set as attributes (never
// as HTML), `on*` functions become listeners, null/false attributes and children are skipped.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
  return parent;
}

function setChildren(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

let idCounter = 0;
const uid = (prefix) => `${prefix}-${++idCounter}`;

// ---- Formatting ------------------------------------------------------------------------------

const dash = (label = "—") => h("span", { class: "muted" }, label);
const text = (value, empty) => (value === null || value === undefined || value === "" ? dash(empty) : String(value));
const mono = (value, empty) => (value ? h("code", { class: "mono" }, String(value)) : dash(empty));

// A time in the browser's zone, with the UTC time on hover.
function when(iso, empty) {
  if (!iso) return dash(empty);
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const utc = date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  return h("time", { datetime: iso, title: utc }, date.toLocaleString());
}

function shortHash(hash) {
  if (!hash) return dash();
  return h("code", { class: "mono", title: hash }, hash.length > 16 ? `${hash.slice(0, 12)}…` : hash);
}

const TONES = {
  alive: "ok", active: "ok", done: "ok", ok: "ok", live: "ok",
  expired: "warn", frozen: "warn", pending: "warn", running: "warn",
  released: "muted", deactivated: "muted", revoked: "bad", failed: "bad", error: "bad",
};

function badge(label, tone) {
  const t = tone || TONES[String(label).toLowerCase()] || "muted";
  return h("span", { class: `badge badge-${t}` }, String(label));
}

const yesNo = (value, yesTone = "warn") => (value ? badge("yes", yesTone) : h("span", { class: "muted" }, "no"));

// An event's or an audit row's particulars as one line of `key: value`.
function describe(detail) {
  if (detail === null || detail === undefined) return dash();
  if (typeof detail !== "object") return h("code", { class: "json" }, String(detail));
  const entries = Object.entries(detail);
  if (!entries.length) return dash();
  const parts = entries.map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
  return h("code", { class: "json" }, parts.join(", "));
}

// datetime-local inputs hold local time; the API wants RFC 3339 (sent in UTC).
function toLocalInput(iso) {
  const date = iso ? new Date(iso) : null;
  if (!date || Number.isNaN(date.getTime())) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}T${p(date.getHours())}:${p(date.getMinutes())}`;
}

function fromLocalInput(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

// ---- API client ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Thrown after a 401 has signed the user out: callers drop it silently.
class SessionEnded extends Error {}

function queryString(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const encoded = search.toString();
  return encoded ? `?${encoded}` : "";
}

function failure(status, data) {
  const code = typeof data?.code === "string" ? data.code : `HTTP ${status}`;
  if (status === 403) return new ApiError(status, code, "Your role cannot do this.");
  if (typeof data?.message === "string" && data.message) return new ApiError(status, code, data.message);
  if (status >= 500) return new ApiError(status, code, `The server could not answer (HTTP ${status}). Try again shortly.`);
  return new ApiError(status, code, `The request failed (HTTP ${status}).`);
}

async function readJson(response) {
  if (response.status === 204) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

// `probe`: a sign-in check, whose 401 means "wrong token" rather than "session over".
async function api(method, path, { query, body, token, probe = false } = {}) {
  const headers = {
    Accept: "application/json",
    Authorization: `Bearer ${token || session?.token || ""}`,
  };
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API_BASE + path + queryString(query), init);
  } catch {
    throw new ApiError(0, "NETWORK", "Cannot reach the server. Check your connection and try again.");
  }
  const data = await readJson(response);
  if (response.ok) {
    if (data === null && response.status !== 204) throw failure(response.status, null);
    return data;
  }
  if (response.status === 401 && !probe) {
    if (session) endSession("Your session ended: the server no longer accepts your token. Sign in again.");
    throw new SessionEnded();
  }
  throw failure(response.status, data);
}

const describeError = (error) => (error.code ? `${error.message} (${error.code})` : error.message);

// ---- Messages --------------------------------------------------------------------------------

function notify(message) {
  $("#notice").textContent = message;
}

function showError(error) {
  if (error instanceof SessionEnded) return;
  const message = error instanceof ApiError ? error.message : `Something went wrong in the console: ${error.message}`;
  const code = error instanceof ApiError && error.code ? error.code : null;
  setChildren($("#error"), h("p", {}, h("strong", {}, "Error: "), message), code && h("p", { class: "error-code" }, code));
}

function clearMessages({ keepNotice = false } = {}) {
  if (!keepNotice) $("#notice").replaceChildren();
  $("#error").replaceChildren();
}

// ---- Session ---------------------------------------------------------------------------------

let session = null; // { token, name, role } while signed in
let view = 0; // bumped by every render and by sign-out: late answers for an old view are dropped
let freshToken = null; // a token just created, shown once by the next render of the Tokens page

const isAdmin = () => session?.role === "admin";

function showSignin(message = "", error = "") {
  $("#signin-view").hidden = false;
  for (const id of ["#main", "#nav", "#who"]) $(id).hidden = true;
  $("#signin-message").textContent = message;
  $("#signin-error").textContent = error;
  $("#signin-submit").disabled = false;
  document.title = "Sign in · koolicense support console";
  $("#token").focus();
}

function endSession(message) {
  view += 1;
  session = null;
  freshToken = null;
  sessionStorage.clear();
  const dialog = $("#reason-dialog");
  if (dialog.open) dialog.close();
  $("#page-body").replaceChildren();
  $("#nav").replaceChildren();
  $("#whoami").textContent = "";
  clearMessages();
  showSignin(message);
}

async function signIn(event) {
  event.preventDefault();
  const input = $("#token");
  const token = input.value.trim();
  $("#signin-message").textContent = "";
  $("#signin-error").textContent = "";
  if (!token) {
    $("#signin-error").textContent = "Enter your admin token.";
    input.focus();
    return;
  }
  const button = $("#signin-submit");
  button.disabled = true;
  try {
    const me = await api("GET", "/whoami", { token, probe: true });
    input.value = "";
    enterApp(token, me);
  } catch (error) {
    $("#signin-error").textContent = error.status === 401 ? "That token was refused." : describeError(error);
    input.focus();
    input.select();
  } finally {
    button.disabled = false;
  }
}

function enterApp(token, me) {
  if (!me || typeof me.name !== "string") {
    throw new ApiError(0, "BAD_ANSWER", "The server's answer about your token was not understood.");
  }
  session = { token, name: me.name, role: me.role };
  sessionStorage.setItem(TOKEN_KEY, token);
  $("#signin-view").hidden = true;
  for (const id of ["#main", "#nav", "#who"]) $(id).hidden = false;
  $("#whoami").textContent = `${me.name} · ${me.role}`;
  buildNav();
  if (!parseHash().parts?.length) history.replaceState(null, "", "#/codes");
  route();
}

// A reload of the tab keeps the session: the stored token is checked again.
async function resume() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return showSignin();
  showSignin("Checking your session…");
  $("#signin-submit").disabled = true;
  try {
    enterApp(token, await api("GET", "/whoami", { token, probe: true }));
  } catch (error) {
    if (error.status === 401) {
      sessionStorage.clear();
      showSignin("Your session ended: the server no longer accepts your token. Sign in again.");
    } else {
      showSignin("", describeError(error));
    }
  }
}

function buildNav() {
  const items = NAV.filter((item) => !item.admin || isAdmin());
  const links = items.map((item) => h("li", {}, h("a", { href: `#/${item.key}`, "data-nav": item.key }, item.label)));
  setChildren($("#nav"), h("ul", {}, links));
}

function markNav(active) {
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.nav === active) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

// ---- Routing ---------------------------------------------------------------------------------

const ROUTES = [
  { path: ["codes"], nav: "codes", title: "Codes", render: codesPage },
  { path: ["codes", ":id"], nav: "codes", title: "Code", render: codePage },
  { path: ["instances"], nav: "instances", title: "Instances", render: instancesPage },
  { path: ["instances", ":id"], nav: "instances", title: "Instance", render: instancePage },
  { path: ["licenses", ":id"], nav: null, title: "License", render: licensePage },
  { path: ["uploads"], nav: "uploads", title: "Uploads", render: uploadsPage },
  { path: ["health"], nav: "health", title: "Marketplace health", render: healthPage },
  { path: ["journal"], nav: "journal", title: "Marketplace journal", render: journalPage },
  { path: ["audit"], nav: "audit", title: "Audit log", render: auditPage },
  { path: ["tokens"], nav: "tokens", title: "Tokens", render: tokensPage, admin: true },
];

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const at = raw.indexOf("?");
  const path = at < 0 ? raw : raw.slice(0, at);
  const params = new URLSearchParams(at < 0 ? "" : raw.slice(at + 1));
  try {
    return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params };
  } catch {
    return { parts: null, params };
  }
}

function match(parts) {
  for (const candidate of ROUTES) {
    if (candidate.path.length !== parts.length) continue;
    const args = {};
    const ok = candidate.path.every((segment, i) => {
      if (segment.startsWith(":")) args[segment.slice(1)] = parts[i];
      return segment.startsWith(":") || segment === parts[i];
    });
    if (ok) return { page: candidate, args };
  }
  return null;
}

const link = (parts, params) => `#/${parts.map(enc).join("/")}${queryString(params)}`;

// Renders at once rather than on `hashchange` (which comes later), so what is on screen always
// belongs to the address; the same address renders again, as a refresh.
function go(hash) {
  if (location.hash !== hash) history.pushState(null, "", hash);
  route();
}

function setTitle(heading, tabTitle = heading) {
  $("#page-title").textContent = heading;
  document.title = `${tabTitle} · koolicense support console`;
}

const setBody = (...children) => setChildren($("#page-body"), ...children);
const loading = (label = "Loading…") => h("p", { class: "loading" }, label);

function focusHeading() {
  $("#page-title").focus({ preventScroll: true });
}

async function route({ reload = false } = {}) {
  if (!session) return;
  const current = ++view;
  const { parts, params } = parseHash();
  const found = parts && match(parts.length ? parts : ["codes"]);
  const main = $("#main");
  main.removeAttribute("aria-busy");
  if (!reload) {
    clearMessages();
    window.scrollTo(0, 0);
  } else {
    clearMessages({ keepNotice: true });
  }
  if (!found) {
    markNav(null);
    setTitle("Page not found");
    setBody(h("p", { class: "empty" }, "There is no page at this address. ", h("a", { href: "#/codes" }, "Search codes")));
    focusHeading();
    return;
  }
  const { page, args } = found;
  markNav(page.nav);
  if (!reload) {
    setTitle(page.title);
    setBody(loading());
    focusHeading();
  }
  if (page.admin && !isAdmin()) {
    setBody(h("p", { class: "empty" }, "Your role cannot do this."));
    return;
  }
  const ctx = { args, params, live: () => current === view && session !== null };
  main.setAttribute("aria-busy", "true");
  try {
    await page.render(ctx);
  } catch (error) {
    if (!ctx.live()) return;
    showError(error);
    for (const el of document.querySelectorAll("#page-body .loading")) el.remove();
  } finally {
    if (current === view) main.removeAttribute("aria-busy");
  }
}

// ---- Building blocks -------------------------------------------------------------------------

// columns: [label, row => cell, className?]
function table(caption, columns, rows, empty) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": caption },
    h("table", {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, columns.map(([label, , cls]) => h("th", { scope: "col", class: cls }, label)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell, cls]) => h("td", { class: cls }, cell(row))))))));
}

function section(title, ...content) {
  const id = uid("section");
  return h("section", { class: "section", "aria-labelledby": id }, h("h2", { id }, title), content);
}

// items: [term, value, ddAttrs?]; falsy items are skipped.
function summary(items) {
  const pairs = items.filter(Boolean).map(([term, value, attrs]) => h("div", {}, h("dt", {}, term), h("dd", attrs || {}, value)));
  return h("dl", { class: "summary" }, pairs);
}

function field(label, control, hint) {
  const hintId = hint ? `${control.id}-hint` : null;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  return h("div", { class: "field" },
    h("label", { for: control.id }, label), control, hint && h("p", { class: "hint", id: hintId }, hint));
}

function input(id, name, value, attrs = {}) {
  return h("input", { id, name, type: "text", value: value || "", autocomplete: "off", spellcheck: "false", ...attrs });
}

function select(id, name, value, options, anyLabel = "any") {
  const all = [["", anyLabel], ...options.map((o) => (Array.isArray(o) ? o : [o, o]))];
  if (value && !all.some(([v]) => v === value)) all.push([value, value]);
  return h("select", { id, name }, all.map(([v, label]) => h("option", { value: v, selected: v === (value || "") }, label)));
}

function datalist(id, values) {
  return h("datalist", { id }, values.map((v) => h("option", { value: v })));
}

// A filter form whose values become the address (so back and forward work); `times` names
// datetime-local fields converted to UTC.
function filterForm(parts, controls, { times = [], label = "Filters" } = {}) {
  const form = h("form", {
    class: "filters", role: "search", "aria-label": label,
    onsubmit: (event) => {
      event.preventDefault();
      const values = {};
      for (const [key, value] of new FormData(form)) values[key] = String(value).trim();
      for (const key of times) values[key] = fromLocalInput(values[key]);
      go(link(parts, values));
    },
  }, controls, h("div", { class: "field field-actions" },
    h("button", { type: "submit" }, "Search"),
    h("a", { href: link(parts), class: "reset-link" }, "Clear")));
  return form;
}

function pager(parts, params, nextCursor) {
  const here = Object.fromEntries(params);
  if (!here.cursor && !nextCursor) return null;
  const to = (cursor) => () => go(link(parts, { ...here, cursor }));
  return h("div", { class: "pager", role: "group", "aria-label": "Pages" },
    here.cursor && h("button", { type: "button", class: "secondary", onclick: to("") }, "First page"),
    nextCursor && h("button", { type: "button", class: "secondary", onclick: to(nextCursor) }, "Next page"));
}

// A paged list under a filter form: the form shows at once, the table when the page arrives.
async function listPage(ctx, { parts, before, form, path, query, caption, columns, empty, title }) {
  const results = h("div", { class: "results" }, loading());
  setBody(before, form, title ? section(title, results) : results);
  const page = await api("GET", path, { query: { ...query, cursor: ctx.params.get("cursor"), limit: PAGE_SIZE } });
  if (!ctx.live()) return;
  setChildren(results, table(caption, columns, page.items, empty), pager(parts, ctx.params, page.next_cursor));
}

// ---- Actions ---------------------------------------------------------------------------------

const reasonDialog = { run: null, resolve: null, result: null, busy: false };

function syncDialog() {
  const { busy } = reasonDialog;
  $("#confirm").disabled = busy || !$("#reason").value.trim();
  $("#confirm").textContent = busy ? "Working…" : "Confirm";
  $("#cancel").disabled = busy;
  $("#reason").readOnly = busy;
}

// Asks for the reason, then runs `run(reason)` while the dialog stays open (an error shows in
// it, so the reason is not lost). Resolves { value } on success, null when cancelled.
function askReason(title, description, run) {
  $("#reason-title").textContent = title;
  $("#reason-desc").textContent = description;
  $("#reason").value = "";
  $("#reason-error").textContent = "";
  Object.assign(reasonDialog, { run, result: null, busy: false });
  syncDialog();
  $("#reason-dialog").showModal();
  $("#reason").focus();
  return new Promise((resolve) => {
    reasonDialog.resolve = resolve;
  });
}

async function confirmReason() {
  const reason = $("#reason").value.trim();
  if (!reason || reasonDialog.busy || !reasonDialog.run) return;
  reasonDialog.busy = true;
  $("#reason-error").textContent = "";
  syncDialog();
  try {
    const value = await reasonDialog.run(reason);
    reasonDialog.result = { value };
    reasonDialog.busy = false;
    $("#reason-dialog").close();
  } catch (error) {
    reasonDialog.busy = false;
    if (error instanceof SessionEnded) return;
    $("#reason-error").textContent = error instanceof ApiError ? describeError(error) : "Something went wrong in the console.";
    syncDialog();
    $("#reason").focus();
  }
}

function wireDialog() {
  const dialog = $("#reason-dialog");
  const reason = $("#reason");
  reason.addEventListener("input", syncDialog);
  reason.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      confirmReason();
    }
  });
  $("#reason-form").addEventListener("submit", (event) => {
    event.preventDefault();
    confirmReason();
  });
  $("#cancel").addEventListener("click", () => dialog.close());
  // Escape while the call runs would hide its outcome.
  dialog.addEventListener("cancel", (event) => {
    if (reasonDialog.busy) event.preventDefault();
  });
  dialog.addEventListener("close", () => {
    const { resolve, result } = reasonDialog;
    Object.assign(reasonDialog, { run: null, resolve: null, result: null, busy: false });
    if (resolve) resolve(result);
  });
}

// A change: reason, call, notice, then the page's data again so the change shows.
async function act({ title, description, run, done, focus }) {
  const outcome = await askReason(title, description, run);
  if (!outcome || !session) return;
  notify(done(outcome.value));
  await route({ reload: true });
  const target = [...document.querySelectorAll("[data-action]")].find((el) => el.dataset.action === focus);
  (target || $("#page-title")).focus({ preventScroll: Boolean(target) });
}

function actionButton(label, key, onclick, cls) {
  return h("button", { type: "button", class: cls, "data-action": key, onclick }, label);
}

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

function licenseStateButton(l) {
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
function downloadButton(l) {
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

const codeLink = (id, label) => (id ? h("a", { href: link(["codes", id]) }, label || id) : dash());
const instanceLink = (id) => (id ? h("a", { href: link(["instances", id]) }, h("code", { class: "mono" }, id)) : dash());
const licenseLink = (id) => (id ? h("a", { href: link(["licenses", id]) }, h("code", { class: "mono" }, id)) : dash());
const journalLink = (filter, label) => h("a", { href: link(["journal"], filter) }, label);

function activationState(a) {
  if (a.live) return badge("live");
  return [badge("deactivated"), " ", when(a.deactivated_at), a.deactivated_by ? ` by ${a.deactivated_by}` : ""];
}

function activationsTable(activations) {
  return table("Activations", [
    ["Hostname", (a) => text(a.hostname)],
    ["Fingerprint (SHA-256)", (a) => shortHash(a.fingerprint_sha256)],
    ["Bound", (a) => when(a.created_at)],
    ["State", activationState],
    ["Action", resetButton],
  ], [...activations].reverse(), "No machine has activated this code.");
}

function licensesTable(licenses) {
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

const UPLOAD_COLUMNS = [
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

const uploadsTable = (uploads) => table("Uploads", UPLOAD_COLUMNS, uploads, "No uploads match.");

function callResult(c) {
  return [
    badge(c.ok ? "ok" : "error"), " ", h("code", { class: "mono" }, c.result_code),
    c.http_status ? ` · HTTP ${c.http_status}` : "", ` · ${c.latency_ms} ms`,
    c.test_flag ? [" ", badge("test", "muted")] : "",
  ];
}

// Events and marketplace calls, newest first.
function timeline(events, calls = []) {
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
async function callsFor(filter) {
  try {
    const page = await api("GET", "/marketplace/calls", { query: { ...filter, limit: TIMELINE_CALLS } });
    return { items: page.items, more: Boolean(page.next_cursor) };
  } catch (error) {
    if (error instanceof SessionEnded) throw error;
    return { items: [], error };
  }
}

// One timeline's calls from several lookups: each call once, newest first.
function mergeCalls(pages) {
  const failed = pages.find((page) => page.error);
  if (failed) return failed;
  const byId = new Map();
  for (const page of pages) for (const call of page.items) byId.set(call.id, call);
  const items = [...byId.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  return { items, more: pages.some((page) => page.more) };
}

function callsNote(calls, filter, what) {
  if (!calls) {
    return h("p", { class: "hint" }, `Marketplace calls are found by order id, and this ${what} has none: only its events are shown.`);
  }
  if (calls.error) return h("p", { class: "inline-warning" }, `Marketplace calls could not be loaded: ${describeError(calls.error)}`);
  return h("p", { class: "hint" },
    calls.more ? `Only the latest ${TIMELINE_CALLS} marketplace calls are shown. ` : "Events and marketplace calls, newest first. ",
    journalLink(filter, "Open these calls in the journal"));
}

// ---- Codes -----------------------------------------------------------------------------------

function codesPage(ctx) {
  const q = ctx.params.get("q") || "";
  const status = ctx.params.get("status") || "";
  return listPage(ctx, {
    parts: ["codes"],
    form: filterForm(["codes"], [
      field("Code, order or product", input("codes-q", "q", q, { type: "search" }),
        "The start of a code, or an exact order id or product id."),
      field("Status", select("codes-status", "status", status, CODE_STATUSES)),
    ], { label: "Search codes" }),
    path: "/codes",
    query: { q, status },
    caption: "Codes",
    columns: [
      ["Code", (c) => codeLink(c.id, c.code_hint)],
      ["Status", (c) => badge(c.status)],
      ["Frozen", (c) => yesNo(c.frozen)],
      ["Seats", (c) => `${c.seats.used} / ${c.seats.total}`, "num"],
      ["Order", (c) => mono(c.order_id)],
      ["Product", (c) => mono(c.product_id)],
      ["Expires", (c) => when(c.expires_at, "never")],
      ["Updated", (c) => when(c.updated_at)],
    ],
    empty: "No codes match.",
  });
}

async function codePage(ctx) {
  const detail = await api("GET", `/codes/${enc(ctx.args.id)}`);
  const code = detail.code;
  // The journal holds a code's hint, never the code: its own calls (activate, the daily query)
  // are found by hint, the order's (callbacks, uploads) by order id.
  const filter = { code_hint: code.code_hint };
  const calls = mergeCalls(await Promise.all([
    callsFor(filter),
    code.order_id ? callsFor({ order_id: code.order_id }) : { items: [] },
  ]));
  if (!ctx.live()) return;
  // The tab title (kept in the browser's history) shows only the hint.
  setTitle(code.code, `Code ${code.code_hint}`);
  setBody(
    summary([
      ["Status", badge(code.status)],
      ["Frozen", yesNo(code.frozen)],
      ["Activated with KooGallery", yesNo(code.activated, "ok")],
      ["Seats used", `${code.seats.used} / ${code.seats.total}`, { id: "seats" }],
      ["Order", code.order_id
        ? [mono(code.order_id), " ", h("a", { href: link(["instances"], { q: code.order_id }) }, "instances")]
        : dash()],
      ["Product", mono(code.product_id)],
      ["Expires", when(code.expires_at, "never")],
      ["Last queried (UTC day)", text(code.last_queried_on, "never")],
      ["Created", when(code.created_at)],
      ["Updated", when(code.updated_at)],
      ["Internal id", mono(code.id)],
    ]),
    section("Activations", activationsTable(detail.activations)),
    section("Licenses", licensesTable(detail.licenses)),
    section("Timeline", callsNote(calls, filter, "code"), timeline(detail.events, calls ? calls.items : [])),
  );
}

// ---- Instances -------------------------------------------------------------------------------

function instancesPage(ctx) {
  const q = ctx.params.get("q") || "";
  const status = ctx.params.get("status") || "";
  return listPage(ctx, {
    parts: ["instances"],
    form: filterForm(["instances"], [
      field("Instance, order or product id", input("instances-q", "q", q, { type: "search" }), "An exact id."),
      field("Status", select("instances-status", "status", status, INSTANCE_STATUSES)),
    ], { label: "Search instances" }),
    path: "/instances",
    query: { q, status },
    caption: "Instances",
    columns: [
      ["Instance", (i) => instanceLink(i.instance_id)],
      ["Order", (i) => mono(i.order_id)],
      ["Order line", (i) => mono(i.order_line_id)],
      ["Status", (i) => badge(i.status)],
      ["Product", (i) => mono(i.product_id)],
      ["Devices", (i) => `${i.devices_used} / ${i.quantity ?? "?"}`, "num"],
      ["Charging", (i) => text(i.charging_mode)],
      ["Expires", (i) => when(i.expires_at, "never")],
      ["Updated", (i) => when(i.updated_at)],
    ],
    empty: "No instances match.",
  });
}

async function instancePage(ctx) {
  const id = ctx.args.id;
  const filter = { instance_id: id };
  const [detail, calls] = await Promise.all([api("GET", `/instances/${enc(id)}`), callsFor(filter)]);
  if (!ctx.live()) return;
  const i = detail.instance;
  setTitle(`Instance ${i.instance_id}`);
  setBody(
    summary([
      ["Status", badge(i.status)],
      ["Order", mono(i.order_id)],
      ["Order line", mono(i.order_line_id)],
      ["Product", mono(i.product_id)],
      ["Devices used", `${i.devices_used} / ${i.quantity ?? "?"}`, { id: "devices" }],
      ["Charging mode", text(i.charging_mode)],
      ["Expires", when(i.expires_at, "never")],
      ["Created", when(i.created_at)],
      ["Updated", when(i.updated_at)],
    ]),
    section("Licenses", licensesTable(detail.licenses)),
    section("Uploads to KooGallery", uploadsTable(detail.uploads)),
    section("Timeline", callsNote(calls, filter, "instance"), timeline(detail.events, calls.items)),
  );
}

// ---- License ---------------------------------------------------------------------------------

function revisionsTable(revisions) {
  return table("Revisions", [
    ["Revision", (r) => String(r.revision), "num"],
    ["Reason", (r) => text(r.reason), "wrap"],
    ["Issued", (r) => when(r.created_at)],
    ["Expires", (r) => when(r.expires_at, "perpetual")],
    ["File", (r) => (typeof r.file === "string"
      ? h("details", {}, h("summary", {}, "Show file"), h("pre", { class: "file" }, r.file))
      : dash())],
  ], [...revisions].reverse(), "No revisions.");
}

async function licensePage(ctx) {
  const detail = await api("GET", `/licenses/${enc(ctx.args.id)}`);
  if (!ctx.live()) return;
  const l = detail.license;
  setTitle(`License ${l.id}`);
  setBody(
    h("div", { class: "toolbar" }, downloadButton(l), licenseStateButton(l)),
    summary([
      ["Revoked", yesNo(l.revoked, "bad")],
      ["Source", text(l.source)],
      l.code_id && ["Code", codeLink(l.code_id, "Open the code")],
      l.instance_id && ["Instance", instanceLink(l.instance_id)],
      ["Revision", String(l.revision)],
      ["Not before", when(l.not_before)],
      ["Expires", when(l.expires_at, "perpetual")],
      ["Fingerprint (SHA-256)", mono(l.fingerprint_sha256)],
      l.event_id && ["getLicenseAsync event", mono(l.event_id)],
      ["Created", when(l.created_at)],
      ["Updated", when(l.updated_at)],
    ]),
    section("License file", typeof l.file === "string"
      ? h("pre", { class: "file", tabindex: 0, "aria-label": "License file" }, l.file)
      : h("p", { class: "empty" }, "No file.")),
    section("Revisions", revisionsTable(l.revisions || [])),
    section("Binding", detail.activation ? activationsTable([detail.activation]) : h("p", { class: "empty" }, "Not bound to a machine.")),
    section("Uploads to KooGallery", uploadsTable(detail.uploads)),
    section("Events", timeline(detail.events)),
  );
}

// ---- Uploads ---------------------------------------------------------------------------------

function uploadsPage(ctx) {
  const status = ctx.params.get("status") || "";
  return listPage(ctx, {
    parts: ["uploads"],
    form: filterForm(["uploads"], [field("Status", select("uploads-status", "status", status, UPLOAD_STATUSES))], { label: "Filter uploads" }),
    path: "/uploads",
    query: { status },
    caption: "Uploads",
    columns: UPLOAD_COLUMNS,
    empty: "No uploads match.",
  });
}

// ---- Health ----------------------------------------------------------------------------------

function riskText(report) {
  const { failed_orders_this_month: failed, delisting_threshold: limit } = report;
  if (failed > limit) return `Over KooGallery's limit: more than ${limit} failed orders this month can get the product delisted.`;
  if (report.at_risk) return "At risk: one more failed order this month and KooGallery can delist the product.";
  return `KooGallery delists a product with more than ${limit} failed orders in a calendar month (UTC).`;
}

function countsTable(caption, label, counts, empty) {
  const rows = Object.entries(counts || {}).map(([key, n]) => ({ key, n }));
  return table(caption, [[label, (r) => mono(r.key)], ["Count", (r) => String(r.n), "num"]], rows, empty);
}

async function healthPage(ctx) {
  const report = await api("GET", "/marketplace/health");
  if (!ctx.live()) return;
  const failedIds = report.failed_order_ids || [];
  const uploads = report.uploads || {};
  const rejected = report.rejected_unauthenticated_24h || { calls: 0, by_reason: {} };
  setBody(
    h("p", { class: "hint" }, "As of ", when(report.generated_at), "."),
    h("section", { class: report.at_risk ? "kpi kpi-risk" : "kpi", "aria-labelledby": "kpi-title" },
      h("h2", { id: "kpi-title" }, `Failed orders in ${report.month}`),
      h("p", { class: "kpi-value", id: "failed-orders" }, `${report.failed_orders_this_month} / ${report.delisting_threshold}`),
      h("p", {}, riskText(report)),
      failedIds.length
        ? h("ul", { class: "id-list", "aria-label": "Failed orders" },
          failedIds.map((o) => h("li", {}, journalLink({ activity: "newInstance", order_id: o }, o))))
        : null,
      failedIds.length < report.failed_orders_this_month ? h("p", { class: "hint" }, `The first ${failedIds.length} are listed.`) : null,
      report.failed_calls_without_order
        ? h("p", { class: "hint" }, `Also ${report.failed_calls_without_order} failed newInstance calls this month named no order.`)
        : null),
    section("Marketplace APIs, last 24 hours", table("Marketplace APIs", [
      ["Direction", (a) => a.direction],
      ["Activity", (a) => journalLink({ direction: a.direction, activity: a.activity }, a.activity)],
      ["Calls", (a) => String(a.calls_24h), "num"],
      ["Errors", (a) => (a.errors_24h ? badge(String(a.errors_24h), "bad") : "0"), "num"],
      ["Error rate", (a) => `${(a.error_rate_24h * 100).toFixed(1)} %`, "num"],
      ["Last call", (a) => when(a.last_call_at, "never")],
      ["Last success", (a) => when(a.last_success_at, "never")],
    ], report.apis || [], "No marketplace calls yet.")),
    section("License uploads",
      summary([
        ["Pending", String(uploads.pending ?? 0)],
        ["Running", String(uploads.running ?? 0)],
        ["Done", String(uploads.done ?? 0)],
        ["Failed", uploads.failed ? h("a", { href: link(["uploads"], { status: "failed" }) }, `${uploads.failed} (show)`) : "0"],
        ["Oldest waiting since", when(uploads.oldest_pending_at, "none waiting")],
      ])),
    section("Background jobs that gave up", countsTable("Failed jobs", "Kind", report.failed_jobs, "No background job has given up.")),
    section(`Refused before authentication, last 24 hours: ${rejected.calls}`,
      h("p", { class: "hint" }, "Not KooGallery's calls (anyone can send them); they count in no error rate."),
      countsTable("Refused calls by reason", "Reason", rejected.by_reason, "No call was refused.")),
  );
}

// ---- Journal ---------------------------------------------------------------------------------

function journalPage(ctx) {
  const p = Object.fromEntries(ctx.params);
  const form = filterForm(["journal"], [
    field("Direction", select("journal-direction", "direction", p.direction, [
      ["inbound", "inbound (KooGallery called us)"],
      ["outbound", "outbound (we called KooGallery)"],
    ])),
    field("Activity", input("journal-activity", "activity", p.activity, { list: "journal-activities" })),
    field("Result", select("journal-result", "result", p.result, ["ok", "error"])),
    field("Order id", input("journal-order", "order_id", p.order_id)),
    field("Instance id", input("journal-instance", "instance_id", p.instance_id)),
    field("Code hint", input("journal-code-hint", "code_hint", p.code_hint),
      "As the journal shows it, e.g. PL12…AB."),
    field("Since", input("journal-since", "since", toLocalInput(p.since), { type: "datetime-local" }), "Your local time."),
    field("Until", input("journal-until", "until", toLocalInput(p.until), { type: "datetime-local" }), "Your local time."),
  ], { times: ["since", "until"], label: "Filter the journal" });
  return listPage(ctx, {
    parts: ["journal"],
    before: datalist("journal-activities", ACTIVITIES),
    form,
    path: "/marketplace/calls",
    query: {
      direction: p.direction, activity: p.activity, result: p.result, order_id: p.order_id,
      instance_id: p.instance_id, code_hint: p.code_hint, since: p.since, until: p.until,
    },
    caption: "Marketplace calls",
    columns: [
      ["Time", (c) => when(c.created_at)],
      ["Direction", (c) => c.direction],
      ["Activity", (c) => c.activity],
      ["Result", callResult],
      ["Order", (c) => (c.order_id ? journalLink({ order_id: c.order_id }, c.order_id) : dash())],
      ["Instance", (c) => instanceLink(c.instance_id)],
      ["Code", (c) => (c.code_hint ? journalLink({ code_hint: c.code_hint }, mono(c.code_hint)) : dash())],
      ["Event", (c) => mono(c.event_id)],
      ["Detail", (c) => text(c.detail), "wrap"],
    ],
    empty: "No calls match.",
  });
}

// ---- Audit -----------------------------------------------------------------------------------

function auditTarget(entry) {
  const id = entry.target_id;
  let target = mono(id);
  if (entry.target_type === "license") target = licenseLink(id);
  if (entry.target_type === "activation" && entry.detail?.code_id) target = [mono(id), " (", codeLink(entry.detail.code_id, "code"), ")"];
  return [entry.target_type, " ", target];
}

function auditPage(ctx) {
  const p = Object.fromEntries(ctx.params);
  const form = filterForm(["audit"], [
    field("Actor", input("audit-actor", "actor", p.actor), "A token name."),
    field("Action", input("audit-action", "action", p.action, { list: "audit-actions" })),
    field("Target type", select("audit-target-type", "target_type", p.target_type, AUDIT_TARGETS)),
    field("Target id", input("audit-target-id", "target_id", p.target_id)),
    field("Since", input("audit-since", "since", toLocalInput(p.since), { type: "datetime-local" }), "Your local time."),
  ], { times: ["since"], label: "Filter the audit log" });
  return listPage(ctx, {
    parts: ["audit"],
    before: datalist("audit-actions", AUDIT_ACTIONS),
    form,
    path: "/audit",
    query: { actor: p.actor, action: p.action, target_type: p.target_type, target_id: p.target_id, since: p.since },
    caption: "Audit log",
    columns: [
      ["Time", (e) => when(e.created_at)],
      ["Actor", (e) => e.actor],
      ["Action", (e) => mono(e.action)],
      ["Target", auditTarget],
      ["Reason", (e) => e.reason, "wrap"],
      ["Detail", (e) => describe(e.detail), "wrap"],
    ],
    empty: "No changes match.",
  });
}

// ---- Tokens (admin) --------------------------------------------------------------------------

async function copyToken(field) {
  field.focus();
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
    notify("Token copied to the clipboard.");
  } catch {
    notify("Copying is not allowed here: the token is selected, press Ctrl+C (⌘C) to copy it.");
  }
}

function oneTimeToken(created) {
  const value = h("input", {
    id: "new-token-value", type: "text", readonly: true, value: created.token, class: "mono",
    autocomplete: "off", spellcheck: "false", "data-action": "new-token", "aria-describedby": "new-token-note",
  });
  value.addEventListener("focus", () => value.select());
  const panel = h("section", { class: "one-time", id: "new-token", "aria-labelledby": "new-token-title" },
    h("h2", { id: "new-token-title" }, `New ${created.role} token for ${created.name}`),
    h("label", { for: "new-token-value" }, "Token"),
    h("div", { class: "copy-row" }, value, h("button", { type: "button", class: "secondary", onclick: () => copyToken(value) }, "Copy")),
    h("p", { id: "new-token-note", class: "inline-warning" },
      "Copy it now and hand it over securely: it will not be shown again (only its hash is stored)."),
    h("button", { type: "button", class: "secondary", onclick: () => { panel.remove(); focusHeading(); } }, "Done, hide it"));
  return panel;
}

function createTokenForm() {
  const name = input("token-name", "name", "", { maxlength: 100, required: true });
  const role = h("select", { id: "token-role", name: "role" },
    h("option", { value: "support" }, "support"), h("option", { value: "admin" }, "admin"));
  const form = h("form", {
    class: "filters", "aria-label": "Create a token",
    onsubmit: (event) => {
      event.preventDefault();
      const holder = name.value.trim();
      if (!holder) {
        showError(new ApiError(0, null, "Enter who will hold the token."));
        name.focus();
        return;
      }
      act({
        title: "Create token",
        description: `A new ${role.value} token for ${holder}. Its secret is shown once, after you confirm.`,
        run: (reason) => api("POST", "/tokens", { body: { name: holder, role: role.value, reason } }),
        done: (created) => {
          freshToken = created;
          return `Token created for ${created.name}.`;
        },
        focus: "new-token",
      });
    },
  },
  field("Name", name, "Who will hold it: a person or a system; 1 to 100 characters."),
  field("Role", role, "support: read, reset bindings, retry uploads. admin: also revoke licenses and manage tokens."),
  h("div", { class: "field field-actions" }, h("button", { type: "submit" }, "Create token")));
  return form;
}

function revokeTokenButton(t) {
  if (t.revoked_at) return null;
  const own = session && t.name === session.name;
  return actionButton("Revoke token", `revoke-token:${t.id}`, () => act({
    title: "Revoke token",
    description: `The token of ${t.name} (${t.role}) is refused from now on.`
      + (own ? " This is your own token: you will be signed out." : ""),
    run: (reason) => api("DELETE", `/tokens/${enc(t.id)}`, { query: { reason } }),
    done: () => `Token of ${t.name} revoked.`,
    focus: `revoke-token:${t.id}`,
  }), "danger");
}

function tokensPage(ctx) {
  const created = freshToken;
  freshToken = null; // shown once: leaving the page forgets it
  return listPage(ctx, {
    parts: ["tokens"],
    before: [created && oneTimeToken(created), h("h2", { class: "form-title" }, "Create a token")],
    form: createTokenForm(),
    path: "/tokens",
    query: {},
    title: "All tokens",
    caption: "Tokens",
    columns: [
      ["Name", (t) => t.name],
      ["Role", (t) => badge(t.role, t.role === "admin" ? "warn" : "muted")],
      ["Created", (t) => when(t.created_at)],
      ["Last used", (t) => when(t.last_used_at, "never")],
      ["State", (t) => (t.revoked_at ? [badge("revoked"), " ", when(t.revoked_at)] : badge("live"))],
      ["Action", revokeTokenButton],
    ],
    empty: "No tokens yet.",
  });
}

// ---- Start -----------------------------------------------------------------------------------

function start() {
  $("#signin").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", () => {
    history.replaceState(null, "", location.pathname + location.search);
    endSession("You are signed out.");
  });
  $(".skip").addEventListener("click", (event) => {
    event.preventDefault();
    if (session) focusHeading();
    else $("#token").focus();
  });
  // In-app links render at once (see `go`); new-tab clicks are left to the browser.
  document.addEventListener("click", (event) => {
    const a = event.target.closest && event.target.closest("a[href^='#/']");
    if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    go(a.getAttribute("href"));
  });
  window.addEventListener("hashchange", () => route());
  wireDialog();
  resume();
}

start();
