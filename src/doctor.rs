//! `koolicense doctor`: the go-live checklist an ISV otherwise keeps in its head, one line per
//! check, exit 1 when any check fails. No secret is printed: settings are named, never shown.

mod checks;

use std::path::Path;

use crate::config::Settings;

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Passed.
    Ok,
    /// Failed: fix it before going live.
    Fail,
    /// Not run, or not needed with these settings (the detail says why).
    Skip,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Finding {
    /// What was checked, e.g. `database` or `marketplace https://mkt.myhuaweicloud.com`.
    pub check: String,
    /// Its outcome.
    pub verdict: Verdict,
    /// What was found, and for a failure what to do.
    pub detail: String,
}

impl Finding {
    fn new(verdict: Verdict, check: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            verdict,
            detail: detail.into(),
        }
    }

    pub(crate) fn ok(check: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(Verdict::Ok, check, detail)
    }

    pub(crate) fn fail(check: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(Verdict::Fail, check, detail)
    }

    pub(crate) fn skip(check: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(Verdict::Skip, check, detail)
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = match self.verdict {
            Verdict::Ok => "ok",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        };
        write!(f, "{verdict:<4}  {}: {}", self.check, self.detail)
    }
}

/// Runs every check. `production_url` adds the seller console's debug cases against the URL
/// KooGallery will call.
pub async fn run(config_file: Option<&Path>, production_url: Option<&str>) -> Vec<Finding> {
    let source = config_file.map_or_else(
        || "the environment".to_owned(),
        |f| format!("{} and the environment", f.display()),
    );
    let settings = match Settings::load(config_file) {
        Ok(settings) => settings,
        // Nothing else can be checked without settings.
        Err(e) => return vec![Finding::fail("configuration", e.to_string())],
    };
    let mut findings = vec![Finding::ok(
        "configuration",
        format!("every setting parsed, from {source}"),
    )];
    findings.extend(checks::required_settings(&settings));
    findings.push(checks::database(&settings).await);
    findings.extend(checks::keys(&settings.keys.dir));
    findings.extend(checks::marketplace(&settings).await);
    if let Some(url) = production_url {
        findings.extend(checks::production_url(&settings, url).await);
    }
    findings
}

/// Prints the report on standard output and returns the exit code: 1 when a check failed.
pub fn print(findings: &[Finding]) -> i32 {
    for finding in findings {
        println!("{finding}");
    }
    let failed = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Fail)
        .count();
    if failed == 0 {
        println!("{} checks, none failed", findings.len());
        0
    } else {
        println!("{} checks, {failed} failed", findings.len());
        1
    }
}
