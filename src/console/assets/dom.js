// DOM building and formatting helpers of the support console.
//
// Everything on screen is built with createElement and text nodes: the page's CSP forbids
// inline code, and nothing the API returns is ever parsed as HTML.

export const $ = (selector) => document.querySelector(selector);
export const enc = encodeURIComponent;

// h("a", { href: "#/codes", onclick: fn }, "Codes"): attributes are set as attributes (never
// as HTML), `on*` functions become listeners, null/false attributes and children are skipped.
export function h(tag, attrs, ...children) {
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

export function setChildren(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

let idCounter = 0;
export const uid = (prefix) => `${prefix}-${++idCounter}`;

// ---- Formatting ------------------------------------------------------------------------------

export const dash = (label = "—") => h("span", { class: "muted" }, label);
export const text = (value, empty) => (value === null || value === undefined || value === "" ? dash(empty) : String(value));
export const mono = (value, empty) => (value ? h("code", { class: "mono" }, String(value)) : dash(empty));

// A time in the browser's zone, with the UTC time on hover.
export function when(iso, empty) {
  if (!iso) return dash(empty);
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const utc = date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  return h("time", { datetime: iso, title: utc }, date.toLocaleString());
}

export function shortHash(hash) {
  if (!hash) return dash();
  return h("code", { class: "mono", title: hash }, hash.length > 16 ? `${hash.slice(0, 12)}…` : hash);
}

const TONES = {
  alive: "ok", active: "ok", done: "ok", ok: "ok", live: "ok",
  expired: "warn", frozen: "warn", pending: "warn", running: "warn",
  released: "muted", deactivated: "muted", revoked: "bad", failed: "bad", error: "bad",
};

export function badge(label, tone) {
  const t = tone || TONES[String(label).toLowerCase()] || "muted";
  return h("span", { class: `badge badge-${t}` }, String(label));
}

export const yesNo = (value, yesTone = "warn") => (value ? badge("yes", yesTone) : h("span", { class: "muted" }, "no"));

// An event's or an audit row's particulars as one line of `key: value`.
export function describe(detail) {
  if (detail === null || detail === undefined) return dash();
  if (typeof detail !== "object") return h("code", { class: "json" }, String(detail));
  const entries = Object.entries(detail);
  if (!entries.length) return dash();
  const parts = entries.map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
  return h("code", { class: "json" }, parts.join(", "));
}

// datetime-local inputs hold local time; the API wants RFC 3339 (sent in UTC).
export function toLocalInput(iso) {
  const date = iso ? new Date(iso) : null;
  if (!date || Number.isNaN(date.getTime())) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}T${p(date.getHours())}:${p(date.getMinutes())}`;
}

export function fromLocalInput(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
