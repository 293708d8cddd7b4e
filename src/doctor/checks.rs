//! The checks of `koolicense doctor`, each turning what it finds into [`Finding`]s.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Instant;

use chrono::{TimeDelta, Utc};
use secrecy::ExposeSecret;

use super::Finding;
use crate::config::Settings;
use crate::db;
use crate::keys::KeyStore;
use crate::koogallery::client::{MarketplaceClient, MarketplaceError};

/// The settings each enabled part needs, by name (never by value).
pub fn required_settings(settings: &Settings) -> Vec<Finding> {
    let m = &settings.marketplace;
    let mut findings = vec![match m.access_key {
        Some(_) => Finding::ok("access key", "KOOLICENSE_ACCESS_KEY is set"),
        None => Finding::fail(
            "access key",
            "KOOLICENSE_ACCESS_KEY is not set: every KooGallery callback would be refused \
             (the seller console's access key for the production URL goes there)",
        ),
    }];
    findings.push(match (&m.apig_ak, &m.apig_sk) {
        (Some(_), Some(_)) => {
            Finding::ok("AK/SK", "KOOLICENSE_APIG_AK and KOOLICENSE_APIG_SK are set")
        }
        _ => Finding::fail(
            "AK/SK",
            "KOOLICENSE_APIG_AK/KOOLICENSE_APIG_SK are not set: codes cannot be activated, usage \
             reported or licenses uploaded",
        ),
    });
    findings.push(match m.legacy_key {
        Some(_) => Finding::ok(
            "Key值",
            "KOOLICENSE_LEGACY_KEY is set (authToken calls, Body-Sign)",
        ),
        None => Finding::skip(
            "Key值",
            "KOOLICENSE_LEGACY_KEY is not set: needed only for the legacy authToken interface \
             and Body-Sign",
        ),
    });
    findings
}

/// Reachable, and migrated to exactly this build's schema. Creates nothing: a missing SQLite
/// file is reported, not made.
pub async fn database(settings: &Settings) -> Finding {
    let url = settings.database.url.clone();
    let shown = url.redacted();
    #[cfg(feature = "sqlite")]
    if let Some(path) = url.sqlite_path() {
        if !Path::new(path).exists() {
            return Finding::fail(
                "database",
                format!("{shown}: no database file; `koolicense migrate` (or serve) creates it"),
            );
        }
    }
    let checked = tokio::task::spawn_blocking(
        move || -> anyhow::Result<(usize, Vec<String>, Vec<String>)> {
            let mut conn = db::connect(&url)?;
            let pending = db::pending_migrations(&mut conn)?;
            let unknown = db::unknown_migrations(&mut conn)?;
            Ok((db::applied_migrations(&mut conn)?, pending, unknown))
        },
    )
    .await;
    match checked {
        Ok(Ok((applied, pending, unknown))) => {
            if !unknown.is_empty() {
                Finding::fail(
                    "database",
                    format!(
                        "{shown}: migrated by a newer koolicense ({}); run that version",
                        unknown.join(", ")
                    ),
                )
            } else if !pending.is_empty() {
                Finding::fail(
                    "database",
                    format!(
                        "{shown}: {} migrations not applied ({}); run `koolicense migrate`",
                        pending.len(),
                        pending.join(", ")
                    ),
                )
            } else {
                Finding::ok(
                    "database",
                    format!("{shown}: reachable, {applied} migrations applied, none pending"),
                )
            }
        }
        Ok(Err(e)) => Finding::fail("database", format!("{shown}: {e}")),
        Err(e) => Finding::fail("database", format!("{shown}: the check failed: {e}")),
    }
}

/// An active key that loads, private key files for the owner alone, a directory others cannot
/// write to.
pub fn keys(dir: &Path) -> Vec<Finding> {
    let mut findings = Vec::new();
    match std::fs::metadata(dir) {
        Ok(meta) if meta.permissions().mode() & 0o022 != 0 => findings.push(Finding::fail(
            "keys directory",
            format!(
                "{} has mode {:04o}: others can replace the active key; chmod 700 it",
                dir.display(),
                meta.permissions().mode() & 0o777
            ),
        )),
        Ok(_) => {}
        Err(e) => {
            findings.push(Finding::fail(
                "keys",
                format!(
                    "{}: {e}; `koolicense keys generate` makes the first key",
                    dir.display()
                ),
            ));
            return findings;
        }
    }
    match KeyStore::load(dir) {
        Ok(store) => {
            for warning in store.warnings() {
                findings.push(Finding::fail("key permissions", warning.clone()));
            }
            let all = store.public_keys().len();
            findings.push(Finding::ok(
                "keys",
                format!(
                    "{}: active key {}, {all} in all; back this directory up, it cannot be \
                     regenerated",
                    dir.display(),
                    store.active_kid()
                ),
            ));
        }
        Err(e) => findings.push(Finding::fail("keys", e.to_string())),
    }
    findings
}

/// Each host: reachable with a valid certificate, its gateway accepting our AK/SK; then this
/// machine's clock against the first host that answered.
pub async fn marketplace(settings: &Settings) -> Vec<Finding> {
    let client = match MarketplaceClient::for_probing(settings) {
        Ok(client) => client,
        Err(e) => return vec![Finding::fail("marketplace", format!("no HTTP client: {e}"))],
    };
    let mut findings = Vec::new();
    let mut skew = Clock::NoAnswer;
    for base in client.hosts() {
        let name = format!("marketplace {}", base.as_str().trim_end_matches('/'));
        let asked = Instant::now();
        let probe = match client.probe(base).await {
            Ok(probe) => probe,
            Err(why) => {
                findings.push(Finding::fail(name, format!("unreachable: {why}")));
                continue;
            }
        };
        let transport = if base.scheme() == "https" {
            "certificate verified"
        } else {
            "plain HTTP, for a simulator only"
        };
        findings.push(Finding::ok(
            name.clone(),
            format!("reachable ({transport}), HTTP {}", probe.status),
        ));
        findings.push(match probe.credentials {
            None => Finding::skip(format!("AK/SK at {name}"), "no AK/SK to try"),
            Some(Ok(())) => Finding::ok(format!("AK/SK at {name}"), "the gateway accepted a signed call"),
            Some(Err(MarketplaceError::Unauthorized { code })) => Finding::fail(
                format!("AK/SK at {name}"),
                format!("the gateway refused our signature ({code}): check KOOLICENSE_APIG_AK and KOOLICENSE_APIG_SK"),
            ),
            Some(Err(e)) => Finding::fail(format!("AK/SK at {name}"), e.to_string()),
        });
        if matches!(skew, Clock::NoAnswer) {
            // The host's second was read about half-way through the round trip.
            let half_trip = TimeDelta::from_std(asked.elapsed() / 2).unwrap_or_default();
            skew = probe.date.map_or(Clock::NoDate, |date| {
                Clock::Skew(Utc::now() - half_trip - date)
            });
        }
    }
    findings.push(clock(skew, settings.marketplace.timestamp_window_secs));
    findings
}

/// What the marketplace's clock said.
#[derive(Debug, Clone, Copy)]
enum Clock {
    /// No host answered.
    NoAnswer,
    /// The first host that answered sent no `Date` header.
    NoDate,
    /// This clock minus the marketplace's.
    Skew(TimeDelta),
}

/// Half the timestamp window is allowed, leaving the rest to the network.
fn clock(said: Clock, window_secs: i64) -> Finding {
    let skew = match said {
        Clock::NoAnswer => return Finding::skip("clock", "no marketplace host answered"),
        Clock::NoDate => return Finding::skip("clock", "the marketplace sent no Date header"),
        Clock::Skew(skew) => skew,
    };
    let seconds = skew.num_seconds();
    let direction = if seconds >= 0 { "ahead of" } else { "behind" };
    let said = format!("{} s {direction} KooGallery's clock", seconds.abs());
    if seconds.abs() * 2 > window_secs {
        Finding::fail(
            "clock",
            format!(
                "{said}: callbacks are refused outside {window_secs} s and APIG refuses calls 15 \
                 min away; run NTP (chrony, systemd-timesyncd)"
            ),
        )
    } else {
        Finding::ok("clock", format!("{said} (allowed: {} s)", window_secs / 2))
    }
}

/// The URL registered in the seller console: its form (HTTPS on 443 with a domain name), then
/// every debug case the console runs, as `koolicense sim drive` runs them.
pub async fn production_url(settings: &Settings, url: &str) -> Vec<Finding> {
    let mut findings = vec![url_form(url)];
    let Some(access_key) = &settings.marketplace.access_key else {
        findings.push(Finding::skip(
            "debug cases",
            "KOOLICENSE_ACCESS_KEY is not set: the cases are signed with it",
        ));
        return findings;
    };
    let legacy = settings.marketplace.legacy_key.as_ref();
    let cases = crate::sim::drive::drive(
        url,
        access_key.expose_secret(),
        legacy.map(ExposeSecret::expose_secret),
    )
    .await;
    for case in cases {
        let check = format!("debug case {}", case.name);
        findings.push(match case.failure {
            None => Finding::ok(check, "passed"),
            Some(why) => Finding::fail(check, why),
        });
    }
    findings
}

/// KooGallery registers only `https://` URLs on port 443 with a domain name (koogallery.md
/// §1.2).
fn url_form(url: &str) -> Finding {
    let check = "production URL";
    let Ok(parsed) = url::Url::parse(url) else {
        return Finding::fail(check, format!("{url:?} is not a URL"));
    };
    let domain = matches!(parsed.host(), Some(url::Host::Domain(_)));
    if parsed.scheme() != "https" || parsed.port_or_known_default() != Some(443) || !domain {
        return Finding::fail(
            check,
            format!("{url}: KooGallery calls only https:// on port 443 with a domain name"),
        );
    }
    Finding::ok(check, format!("{url}: HTTPS on 443 with a domain name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Verdict;

    #[test]
    fn the_clock_may_be_half_the_window_away() {
        let at = |s| clock(Clock::Skew(TimeDelta::seconds(s)), 60).verdict;
        assert_eq!(at(0), Verdict::Ok);
        assert_eq!(at(-30), Verdict::Ok);
        assert_eq!(at(31), Verdict::Fail);
        assert_eq!(at(-300), Verdict::Fail);
        assert_eq!(clock(Clock::NoAnswer, 60).verdict, Verdict::Skip);
        assert_eq!(clock(Clock::NoDate, 60).verdict, Verdict::Skip);
    }

    #[test]
    fn only_https_on_443_with_a_domain_can_be_registered() {
        let form = |u| url_form(u).verdict;
        assert_eq!(
            form("https://license.example.com/koogallery/license"),
            Verdict::Ok
        );
        assert_eq!(
            form("https://license.example.com:443/koogallery/license"),
            Verdict::Ok
        );
        assert_eq!(
            form("http://license.example.com/koogallery/license"),
            Verdict::Fail
        );
        assert_eq!(form("https://license.example.com:8443/x"), Verdict::Fail);
        assert_eq!(
            form("https://203.0.113.7/koogallery/license"),
            Verdict::Fail
        );
        assert_eq!(form("not a url"), Verdict::Fail);
    }
}
