//! The support console (`/console/`): its files and headers, and the whole of it driven in a
//! real headless chromium (`tests/console/e2e.mjs`, Playwright) against a real server, with
//! `koolicense sim` as KooGallery; what the browser changed is then checked through the client
//! API the shipped software uses.

use std::path::{Path, PathBuf};
use std::process::Command;

use koolicense::admin::auth::Role;

use crate::both_backends;
use crate::client_api::{Client, machine};
use crate::helpers::TestApp;
use crate::with_marketplace;

both_backends!(
    the_console_is_served_with_a_strict_policy,
    |app: TestApp| async move {
        let page = app.get("/console/").await;
        assert_eq!(page.status(), 200);
        let csp = header(&page, "content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{directive} missing from {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(header(&page, "x-content-type-options"), "nosniff");
        assert_eq!(header(&page, "referrer-policy"), "no-referrer");
        assert!(header(&page, "content-type").starts_with("text/html"));
        let etag = header(&page, "etag");
        let html = page.text().await.unwrap();
        assert_no_inline_code(&html);

        // The page loads its script and style from here; every file of the console's
        // directory is served, with its type (a module served otherwise does not run).
        assert!(html.contains("src=\"app.js\"") && html.contains("href=\"app.css\""));
        let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/console/assets");
        for entry in std::fs::read_dir(assets).unwrap() {
            let file = entry.unwrap().file_name().into_string().unwrap();
            let kind = match file.rsplit('.').next() {
                Some("js") => "text/javascript",
                Some("css") => "text/css",
                _ => "text/html",
            };
            let asset = app.get(&format!("/console/{file}")).await;
            assert_eq!(asset.status(), 200, "{file}");
            assert!(header(&asset, "content-type").starts_with(kind), "{file}");
            let text = asset.text().await.unwrap();
            assert!(
                !text.contains("innerHTML") && !text.contains("eval("),
                "{file}"
            );
        }
        // A reload costs a 304; unknown files are not found; `/console` leads to the page.
        let again = app
            .client
            .get(app.url("/console/"))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        assert_eq!(app.get("/console/secrets.txt").await.status(), 404);
        assert_eq!(app.get("/console/..%2Fopenapi.json").await.status(), 404);
        let bare = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(app.url("/console"))
            .send()
            .await
            .unwrap();
        assert_eq!(bare.status(), 308);
        assert_eq!(header(&bare, "location"), "/console/");
    }
);

both_backends!(
    whoami_names_the_token_and_its_role,
    |app: TestApp| async move {
        let support = app.token("helpdesk", Role::Support);
        let admin = app.token("root", Role::Admin);
        let me = app.admin_get(&support, "/admin/v1/whoami").await;
        assert_eq!(me.status, 200, "{}", me.body);
        assert_eq!(
            me.body,
            serde_json::json!({"name": "helpdesk", "role": "support"})
        );
        let me = app.admin_get(&admin, "/admin/v1/whoami").await;
        assert_eq!(me.body["role"], "admin");
        let refused = app.admin_get("kl_admin_nope", "/admin/v1/whoami").await;
        assert_eq!(refused.status, 401);
    }
);

with_marketplace!(
    support_staff_use_the_console_in_a_real_browser,
    |client: Client| async move {
        let Some(browser) = Browser::find() else {
            return;
        };
        let app = &client.app;
        let support = app.token("helpdesk", Role::Support);
        let admin = app.token("root", Role::Admin);
        // One seat, taken: the customer's new machine is refused until support resets it.
        client.add_code("PLCONSOLERESET1", 1).await;
        assert_eq!(
            client.activate("PLCONSOLERESET1", &machine(1)).await.status,
            201
        );
        let refused = client.activate("PLCONSOLERESET1", &machine(2)).await;
        assert_eq!(refused.code(), "SEAT_LIMIT_REACHED");
        client.add_code("PLCONSOLEREVOK1", 1).await;
        assert_eq!(
            client.activate("PLCONSOLEREVOK1", &machine(3)).await.status,
            201
        );

        let run = browser.run(&[
            ("CONSOLE_URL", app.address.as_str()),
            ("SUPPORT_TOKEN", support.as_str()),
            ("ADMIN_TOKEN", admin.as_str()),
            ("RESET_CODE", "PLCONSOLERESET1"),
            ("REVOKE_CODE", "PLCONSOLEREVOK1"),
        ]);
        let output = tokio::task::spawn_blocking(run).await.unwrap();
        assert!(
            output.status.success(),
            "the browser run failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );

        // What the browser did, as the shipped software sees it.
        let moved = client.activate("PLCONSOLERESET1", &machine(2)).await;
        assert_eq!(moved.status, 201, "the freed seat: {:?}", moved.body);
        let revoked = client.activate("PLCONSOLEREVOK1", &machine(3)).await;
        assert_eq!(
            (revoked.status, revoked.code()),
            (403, "LICENSE_REVOKED"),
            "{:?}",
            revoked.body
        );
        let audit = app.admin_get(&admin, "/admin/v1/audit").await;
        let actors = pairs(&audit.body, "actor", "reason");
        assert!(actors.contains(&("helpdesk", "customer replaced the motherboard")));
        assert!(actors.contains(&("root", "chargeback on the order")));
    }
);

with_marketplace!(
    the_journal_finds_a_codes_calls_by_its_hint,
    |client: Client| async move {
        let app = &client.app;
        let support = app.token("helpdesk", Role::Support);
        for (code, n) in [("PLHINTFIRST01", 1), ("PLHINTOTHER02", 2)] {
            client.add_code(code, 1).await;
            assert_eq!(client.activate(code, &machine(n)).await.status, 201);
        }
        let found = app
            .admin_get(
                &support,
                "/admin/v1/marketplace/calls?code_hint=PLHI%E2%80%A601",
            )
            .await;
        assert_eq!(found.status, 200, "{}", found.body);
        let calls = pairs(&found.body, "activity", "code_hint");
        assert_eq!(calls, [("activate", "PLHI…01")]);
    }
);

/// Two text fields of every item of a page (`{"items": [...]}`).
fn pairs<'a>(page: &'a serde_json::Value, first: &str, second: &str) -> Vec<(&'a str, &'a str)> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item[first].as_str().unwrap(),
                item[second].as_str().unwrap(),
            )
        })
        .collect()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// No script or style in the page itself: the policy would block it, and so should the page.
fn assert_no_inline_code(html: &str) {
    let lower = html.to_lowercase();
    for (at, _) in lower.match_indices("<script") {
        let tag = &lower[at..at + lower[at..].find('>').unwrap()];
        assert!(tag.contains("src="), "an inline script: {tag}");
    }
    assert!(!lower.contains("<style"), "an inline style sheet");
    assert!(!lower.contains(" style="), "an inline style attribute");
    assert!(!lower.contains(" onclick=") && !lower.contains(" onload="));
}

/// Debian's chromium and the Playwright driver (`npm ci --prefix tests/console`).
struct Browser {
    chromium: PathBuf,
    script: PathBuf,
}

impl Browser {
    /// Both installed; otherwise `None` with a note, except under CI (`.ci/run` installs them),
    /// where their absence fails the test.
    fn find() -> Option<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let chromium = std::env::var_os("CHROMIUM")
            .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
        let driver = root.join("tests/console/node_modules/playwright-core");
        if chromium.exists() && driver.exists() {
            return Some(Self {
                chromium,
                script: root.join("tests/console/e2e.mjs"),
            });
        }
        let missing = "the console's browser test needs chromium (apt-get install chromium) and \
            Playwright (npm ci --prefix tests/console)";
        assert!(std::env::var("CI").is_err(), "{missing}");
        eprintln!("skipped: {missing}");
        None
    }

    /// `node e2e.mjs` with `vars`; screenshots go to `$CONSOLE_SCREENSHOTS` when it is set.
    fn run(self, vars: &[(&str, &str)]) -> impl FnOnce() -> std::process::Output + use<> {
        let mut command = Command::new("node");
        command.arg(&self.script).env("CHROMIUM", &self.chromium);
        if let Some(dir) = std::env::var_os("CONSOLE_SCREENSHOTS") {
            command.env("SCREENSHOTS", dir);
        }
        for (name, value) in vars {
            command.env(name, value);
        }
        move || command.output().unwrap()
    }
}
