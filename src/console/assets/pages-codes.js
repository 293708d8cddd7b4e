// The Codes and Instances pages: searches and details.

import { h, enc, dash, text, mono, when, badge, yesNo } from "./dom.js";
import { api } from "./api.js";
import {
  link, setTitle, setBody, section, summary, field, input, select, filterForm, listPage,
} from "./ui.js";
import {
  codeLink, instanceLink, activationsTable, licensesTable, uploadsTable, timeline, callsFor,
  mergeCalls, callsNote,
} from "./records.js";

const CODE_STATUSES = ["ALIVE", "EXPIRED", "RELEASED", "FROZEN"];
const INSTANCE_STATUSES = ["ACTIVE", "FROZEN", "RELEASED"];

// ---- Codes -----------------------------------------------------------------------------------

export function codesPage(ctx) {
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

export async function codePage(ctx) {
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

export function instancesPage(ctx) {
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

export async function instancePage(ctx) {
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
