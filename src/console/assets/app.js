// The koolicense support console: one page over the admin API (/admin/v1) of this origin.
// This entry module signs in and out, builds the navigation and routes each address to its page.

import { $, h, setChildren } from "./dom.js";
import {
  api, ApiError, describeError, signedIn, isAdmin, storedToken, forgetStoredToken, beginSession,
  onSessionEnd, endSession,
} from "./api.js";
import {
  setRenderer, go, setTitle, setBody, loading, focusHeading, showError, clearMessages, wireDialog,
} from "./ui.js";
import { codesPage, codePage, instancesPage, instancePage } from "./pages-codes.js";
import { licensePage, uploadsPage } from "./pages-licenses.js";
import { healthPage, journalPage, auditPage } from "./pages-activity.js";
import { tokensPage, forgetFreshToken } from "./pages-tokens.js";

const NAV = [
  { key: "codes", label: "Codes" },
  { key: "instances", label: "Instances" },
  { key: "uploads", label: "Uploads" },
  { key: "health", label: "Health" },
  { key: "journal", label: "Journal" },
  { key: "audit", label: "Audit" },
  { key: "tokens", label: "Tokens", admin: true },
];

// ---- Session ---------------------------------------------------------------------------------

let view = 0; // bumped by every render and by sign-out: late answers for an old view are dropped

function showSignin(message = "", error = "") {
  $("#signin-view").hidden = false;
  for (const id of ["#main", "#nav", "#who"]) $(id).hidden = true;
  $("#signin-message").textContent = message;
  $("#signin-error").textContent = error;
  $("#signin-submit").disabled = false;
  document.title = "Sign in · koolicense support console";
  $("#token").focus();
}

// What ending the session (signing out, or a 401) does to the page; api.js has already
// forgotten the token.
function leave(message) {
  view += 1;
  forgetFreshToken();
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
  beginSession(token, me);
  $("#signin-view").hidden = true;
  for (const id of ["#main", "#nav", "#who"]) $(id).hidden = false;
  $("#whoami").textContent = `${me.name} · ${me.role}`;
  buildNav();
  if (!parseHash().parts?.length) history.replaceState(null, "", "#/codes");
  route();
}

// A reload of the tab keeps the session: the stored token is checked again.
async function resume() {
  const token = storedToken();
  if (!token) return showSignin();
  showSignin("Checking your session…");
  $("#signin-submit").disabled = true;
  try {
    enterApp(token, await api("GET", "/whoami", { token, probe: true }));
  } catch (error) {
    if (error.status === 401) {
      forgetStoredToken();
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

async function route({ reload = false } = {}) {
  if (!signedIn()) return;
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
  const ctx = { args, params, live: () => current === view && signedIn() };
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

// ---- Start -----------------------------------------------------------------------------------

function start() {
  setRenderer(route);
  onSessionEnd(leave);
  $("#signin").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", () => {
    history.replaceState(null, "", location.pathname + location.search);
    endSession("You are signed out.");
  });
  $(".skip").addEventListener("click", (event) => {
    event.preventDefault();
    if (signedIn()) focusHeading();
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
