// The Health, Journal and Audit pages: how the marketplace integration is doing, its calls,
// and the changes made through the admin API.

import { h, dash, text, mono, when, badge, describe, toLocalInput } from "./dom.js";
import { api } from "./api.js";
import {
  link, setBody, table, section, summary, field, input, select, datalist, filterForm, listPage,
} from "./ui.js";
import { codeLink, instanceLink, licenseLink, journalLink, callResult } from "./records.js";

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

export async function healthPage(ctx) {
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

export function journalPage(ctx) {
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

export function auditPage(ctx) {
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
