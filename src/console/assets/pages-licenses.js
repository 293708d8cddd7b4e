// A license's page and the Uploads page.

import { h, enc, dash, text, mono, when, yesNo } from "./dom.js";
import { api } from "./api.js";
import {
  setTitle, setBody, table, section, summary, field, select, filterForm, listPage,
} from "./ui.js";
import {
  licenseStateButton, downloadButton, codeLink, instanceLink, activationsTable, UPLOAD_COLUMNS,
  uploadsTable, timeline,
} from "./records.js";

const UPLOAD_STATUSES = ["pending", "running", "done", "failed"];

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

export async function licensePage(ctx) {
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

export function uploadsPage(ctx) {
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
