// The Tokens page (admin only): create a token, shown once, and revoke tokens.

import { h, enc, when, badge } from "./dom.js";
import { api, ApiError, sessionName } from "./api.js";
import {
  notify, showError, focusHeading, field, input, listPage, act, actionButton,
} from "./ui.js";

let freshToken = null; // a token just created, shown once by the next render of the Tokens page

// Signing out forgets a token not yet shown.
export function forgetFreshToken() {
  freshToken = null;
}

async function copyToken(box) {
  box.focus();
  box.select();
  try {
    await navigator.clipboard.writeText(box.value);
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
  const own = t.name === sessionName();
  return actionButton("Revoke token", `revoke-token:${t.id}`, () => act({
    title: "Revoke token",
    description: `The token of ${t.name} (${t.role}) is refused from now on.`
      + (own ? " This is your own token: you will be signed out." : ""),
    run: (reason) => api("DELETE", `/tokens/${enc(t.id)}`, { query: { reason } }),
    done: () => `Token of ${t.name} revoked.`,
    focus: `revoke-token:${t.id}`,
  }), "danger");
}

export function tokensPage(ctx) {
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
