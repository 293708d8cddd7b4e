// What every page is made of: messages, the page frame and in-app addresses, tables, filter
// forms and paged lists, and changes confirmed with a reason in the dialog.

import { $, enc, h, setChildren, uid, fromLocalInput } from "./dom.js";
import { api, ApiError, SessionEnded, describeError, queryString, signedIn } from "./api.js";

const PAGE_SIZE = 20;

// How an address is rendered: set by app.js, which holds the routes (so the pages, which
// import this module, are not imported back).
let render = async () => {};

export function setRenderer(renderer) {
  render = renderer;
}

// ---- Messages --------------------------------------------------------------------------------

export function notify(message) {
  $("#notice").textContent = message;
}

export function showError(error) {
  if (error instanceof SessionEnded) return;
  const message = error instanceof ApiError ? error.message : `Something went wrong in the console: ${error.message}`;
  const code = error instanceof ApiError && error.code ? error.code : null;
  setChildren($("#error"), h("p", {}, h("strong", {}, "Error: "), message), code && h("p", { class: "error-code" }, code));
}

export function clearMessages({ keepNotice = false } = {}) {
  if (!keepNotice) $("#notice").replaceChildren();
  $("#error").replaceChildren();
}

// ---- Page frame and addresses ----------------------------------------------------------------

export const link = (parts, params) => `#/${parts.map(enc).join("/")}${queryString(params)}`;

// Renders at once rather than on `hashchange` (which comes later), so what is on screen always
// belongs to the address; the same address renders again, as a refresh.
export function go(hash) {
  if (location.hash !== hash) history.pushState(null, "", hash);
  render();
}

export function setTitle(heading, tabTitle = heading) {
  $("#page-title").textContent = heading;
  document.title = `${tabTitle} · koolicense support console`;
}

export const setBody = (...children) => setChildren($("#page-body"), ...children);
export const loading = (label = "Loading…") => h("p", { class: "loading" }, label);

export function focusHeading() {
  $("#page-title").focus({ preventScroll: true });
}

// ---- Building blocks -------------------------------------------------------------------------

// columns: [label, row => cell, className?]
export function table(caption, columns, rows, empty) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": caption },
    h("table", {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, columns.map(([label, , cls]) => h("th", { scope: "col", class: cls }, label)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell, cls]) => h("td", { class: cls }, cell(row))))))));
}

export function section(title, ...content) {
  const id = uid("section");
  return h("section", { class: "section", "aria-labelledby": id }, h("h2", { id }, title), content);
}

// items: [term, value, ddAttrs?]; falsy items are skipped.
export function summary(items) {
  const pairs = items.filter(Boolean).map(([term, value, attrs]) => h("div", {}, h("dt", {}, term), h("dd", attrs || {}, value)));
  return h("dl", { class: "summary" }, pairs);
}

export function field(label, control, hint) {
  const hintId = hint ? `${control.id}-hint` : null;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  return h("div", { class: "field" },
    h("label", { for: control.id }, label), control, hint && h("p", { class: "hint", id: hintId }, hint));
}

export function input(id, name, value, attrs = {}) {
  return h("input", { id, name, type: "text", value: value || "", autocomplete: "off", spellcheck: "false", ...attrs });
}

export function select(id, name, value, options, anyLabel = "any") {
  const all = [["", anyLabel], ...options.map((o) => (Array.isArray(o) ? o : [o, o]))];
  if (value && !all.some(([v]) => v === value)) all.push([value, value]);
  return h("select", { id, name }, all.map(([v, label]) => h("option", { value: v, selected: v === (value || "") }, label)));
}

export function datalist(id, values) {
  return h("datalist", { id }, values.map((v) => h("option", { value: v })));
}

// A filter form whose values become the address (so back and forward work); `times` names
// datetime-local fields converted to UTC.
export function filterForm(parts, controls, { times = [], label = "Filters" } = {}) {
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
export async function listPage(ctx, { parts, before, form, path, query, caption, columns, empty, title }) {
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

export function wireDialog() {
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
export async function act({ title, description, run, done, focus }) {
  const outcome = await askReason(title, description, run);
  if (!outcome || !signedIn()) return;
  notify(done(outcome.value));
  await render({ reload: true });
  const target = [...document.querySelectorAll("[data-action]")].find((el) => el.dataset.action === focus);
  (target || $("#page-title")).focus({ preventScroll: Boolean(target) });
}

export function actionButton(label, key, onclick, cls) {
  return h("button", { type: "button", class: cls, "data-action": key, onclick }, label);
}
