// Drives the support console in Debian's chromium as support staff would, against a real
// koolicense server prepared by tests/api/console.rs (which checks the client API afterwards).
//
// Environment: CONSOLE_URL (the server's base URL), ADMIN_TOKEN, SUPPORT_TOKEN, RESET_CODE (a
// code whose one seat is taken), REVOKE_CODE (a bound code whose license the admin revokes),
// CHROMIUM (default /usr/bin/chromium), SCREENSHOTS (a directory: the main pages are saved
// there as PNG files; unset: none).
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env("CONSOLE_URL");
const screenshots = process.env.SCREENSHOTS;
if (screenshots) mkdirSync(screenshots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const failures = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  // A CSP violation, a script error or a request leaving this origin fails the run.
  page.on("console", (message) => {
    if (message.type() === "error" && !/401|403|404|409/.test(message.text())) {
      failures.push(`console error: ${message.text()}`);
    }
  });
  page.on("pageerror", (error) => failures.push(`page error: ${error.message}`));
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(base) && !url.startsWith("blob:") && !url.startsWith("data:")) {
      failures.push(`request outside the server: ${url}`);
    }
  });

  const shot = async (name) => {
    if (screenshots) await page.screenshot({ path: `${screenshots}/${name}.png`, fullPage: true });
  };
  const signIn = async (token) => {
    await page.goto(`${base}/console/`);
    await page.locator("#token").fill(token);
    await page.locator("#token").press("Enter");
  };
  const signOut = async () => {
    await page.locator("#signout").click();
    await page.locator("#signin").waitFor();
    assert.equal(
      await page.evaluate(() => sessionStorage.length),
      0,
      "signing out leaves nothing in session storage",
    );
  };
  const confirmWithReason = async (reason) => {
    const dialog = page.locator("dialog[open]");
    await dialog.waitFor();
    assert.ok(await page.locator("#confirm").isDisabled(), "no action without a reason");
    await page.locator("#reason").fill(reason);
    await page.locator("#confirm").click();
    await page.locator("#notice").filter({ hasText: /\S/ }).waitFor();
  };
  const openCode = async (code) => {
    await page.locator("nav").getByRole("link", { name: "Codes" }).click();
    await page.locator("#codes-q").fill(code);
    await page.locator("#codes-q").press("Enter");
    await page.getByRole("link", { name: code.slice(0, 4), exact: false }).first().click();
    await page.getByRole("heading", { name: code }).waitFor();
  };

  // A bad token is refused and nothing is kept.
  await page.goto(`${base}/console/`);
  await shot("sign-in");
  await signIn("kl_admin_not-a-real-token");
  await page.locator("#signin-error").filter({ hasText: /refused/i }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, "a refused token is not kept");
  assert.ok(!page.url().includes("kl_admin_"), "the token never goes into the URL");

  // Support: sees its role, resets a binding and sees the seat freed; is offered no revoke.
  await signIn(env("SUPPORT_TOKEN"));
  await page.locator("#whoami").filter({ hasText: "support" }).waitFor();
  assert.equal(
    await page.locator("nav").getByRole("link", { name: "Tokens" }).count(),
    0,
    "support is not offered token management",
  );
  const cookies = await context.cookies();
  assert.equal(cookies.length, 0, "no cookie holds the credentials");
  const resetCode = env("RESET_CODE");
  await openCode(resetCode);
  await page.locator("#seats").filter({ hasText: /1\s*\/\s*1/ }).waitFor();
  // Times read in the browser's zone, with UTC on hover.
  const title = await page.locator("main time").first().getAttribute("title");
  assert.match(title || "", /UTC$/, "a time shows its UTC value on hover");
  // Navigating moved the focus to the page's heading, so a screen reader reads the new page.
  assert.equal(await page.evaluate(() => document.activeElement.id), "page-title");
  // The first thing the keyboard reaches is "Skip to content", which moves focus into the page
  // without leaving it.
  assert.equal(
    await page.evaluate(() => document.querySelector("a[href], button, input, select, textarea").textContent.trim()),
    "Skip to content",
  );
  await page.locator(".skip").focus();
  const before = page.url();
  await page.keyboard.press("Enter");
  assert.ok(
    await page.evaluate(() => document.querySelector("#main").contains(document.activeElement)),
    "skip to content moves focus into the page",
  );
  assert.equal(page.url(), before, "skip to content keeps the page");
  // The timeline holds the code's own marketplace call (the activation with KooGallery).
  await page.getByRole("cell", { name: "outbound call" }).first().waitFor();
  assert.equal(
    await page.getByRole("button", { name: "Revoke", exact: true }).count(),
    0,
    "support is not offered revoke",
  );
  await shot("code-detail");
  await page.getByRole("button", { name: "Reset binding" }).first().click();
  await confirmWithReason("customer replaced the motherboard");
  await page.locator("#seats").filter({ hasText: /0\s*\/\s*1/ }).waitFor();
  await signOut();

  // Admin: revokes a license; the client API's answer is checked by the Rust test.
  await signIn(env("ADMIN_TOKEN"));
  await page.locator("#whoami").filter({ hasText: "admin" }).waitFor();
  const revokeCode = env("REVOKE_CODE");
  await openCode(revokeCode);
  await page.getByRole("button", { name: "Revoke", exact: true }).first().click();
  await confirmWithReason("chargeback on the order");
  await page.getByRole("button", { name: "Reinstate", exact: true }).first().waitFor();

  // The other main pages render, for the screenshots and for script errors.
  await page.locator("nav").getByRole("link", { name: "Codes" }).click();
  await page.locator("#codes-q").fill("");
  await page.locator("#codes-q").press("Enter");
  await page.locator("table").first().waitFor();
  await shot("codes");
  for (const [link, name] of [
    ["Health", "health"],
    ["Journal", "journal"],
    ["Audit", "audit"],
    ["Tokens", "tokens"],
  ]) {
    await page.locator("nav").getByRole("link", { name: link }).click();
    await page.locator("main table, main .empty").first().waitFor();
    await shot(name);
  }
  // Both changes are in the audit log with their reasons.
  await page.locator("nav").getByRole("link", { name: "Audit" }).click();
  await page.locator("main").filter({ hasText: "chargeback on the order" }).waitFor();
  await page.locator("main").filter({ hasText: "customer replaced the motherboard" }).waitFor();

  // Token management: an admin creates a support token, shown once, and it signs in.
  await page.locator("nav").getByRole("link", { name: "Tokens" }).click();
  await page.locator("#token-name").fill("night-shift");
  await page.locator("#token-role").selectOption("support");
  await page.getByRole("button", { name: "Create token" }).click();
  await confirmWithReason("a new colleague on the night shift");
  const created = await page.locator("#new-token-value").inputValue();
  assert.match(created, /^kl_admin_/, "the new token is shown once");
  await page.locator("nav").getByRole("link", { name: "Codes" }).click();
  assert.equal(await page.locator("#new-token-value").count(), 0, "and not again");
  await signOut();
  await signIn(created);
  await page.locator("#whoami").filter({ hasText: "night-shift · support" }).waitFor();
  await signOut();
  await signIn(env("ADMIN_TOKEN"));
  await page.locator("#whoami").filter({ hasText: "admin" }).waitFor();

  // A phone's width: the page still fits (tables scroll inside their own box).
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator("nav").getByRole("link", { name: "Health" }).click();
  await page.locator("main table, main .empty").first().waitFor();
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  assert.ok(overflow <= 1, `the page scrolls sideways on a phone by ${overflow} px`);
  await shot("health-phone");
  await signOut();
} catch (error) {
  failures.push(error.stack || String(error));
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(failures.join("\n"));
  process.exit(1);
}
console.log("console e2e: ok");
