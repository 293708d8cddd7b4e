//! The gauges `/metrics` adds to the HTTP metrics: what KooGallery judges the product by (failed
//! orders, error rates, uploads) and the state of the signing key, for the alert rules in
//! `deploy/prometheus/alerts.yml`.
//!
//! The marketplace figures come from the shared database, so every node reports the same values
//! (alert on `max` of them). They are computed at most once per [`REFRESH`] per node: a scraper
//! or a stranger hammering `/metrics` costs the database one report per interval, not one per
//! request. A fresh registry per computation, so an API that stopped being called leaves no stale
//! series behind.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use prometheus::{Encoder, GaugeVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::admin::health::{self, MarketplaceHealth};
use crate::db;
use crate::keys::{self, KeyStore};
use crate::startup::AppState;

/// How long one computation of the database gauges is served.
pub const REFRESH: Duration = Duration::from_secs(10);

/// The last computation of the database gauges, per node.
#[derive(Default)]
pub struct Gauges {
    last: Mutex<Option<(Instant, String)>>,
}

impl Gauges {
    /// The exposition text of every gauge: the database ones as of at most [`REFRESH`] ago, the
    /// key ones as of now (reading one small file).
    pub async fn render(&self, state: &AppState) -> String {
        let mut text = self.database_gauges(state).await;
        text.push_str(&key_gauges(&state.keys, &state.settings.keys.dir));
        text
    }

    async fn database_gauges(&self, state: &AppState) -> String {
        if let Some(text) = self.fresh() {
            return text;
        }
        let text = match db::run(&state.pool, health::report).await {
            Ok(report) => encode(|registry| marketplace(registry, &report)),
            Err(error) => {
                tracing::warn!(%error, "the marketplace gauges could not be read");
                encode(|registry| database_up(registry, false))
            }
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), text.clone()));
        }
        text
    }

    fn fresh(&self) -> Option<String> {
        let last = self.last.lock().ok()?;
        let (at, text) = last.as_ref()?;
        (at.elapsed() < REFRESH).then(|| text.clone())
    }
}

type Registered = prometheus::Result<()>;

fn encode(register: impl FnOnce(&Registry) -> Registered) -> String {
    let Ok(registry) = Registry::new_custom(Some("koolicense".into()), None) else {
        return String::new();
    };
    if let Err(error) = register(&registry) {
        tracing::warn!(%error, "a gauge could not be registered");
    }
    let mut buffer = Vec::new();
    let _ = TextEncoder::new().encode(&registry.gather(), &mut buffer);
    String::from_utf8_lossy(&buffer).into_owned()
}

fn gauge(registry: &Registry, name: &str, help: &str, value: i64) -> Registered {
    let gauge = IntGauge::new(name, help)?;
    gauge.set(value);
    registry.register(Box::new(gauge))
}

fn database_up(registry: &Registry, up: bool) -> Registered {
    gauge(
        registry,
        "marketplace_gauges_up",
        "1 when the marketplace gauges below were read from the database, 0 when it failed",
        i64::from(up),
    )
}

fn marketplace(registry: &Registry, report: &MarketplaceHealth) -> Registered {
    database_up(registry, true)?;
    gauge(
        registry,
        "marketplace_failed_orders_this_month",
        "Orders whose latest newInstance this calendar month (UTC) was not answered with success",
        report.failed_orders_this_month,
    )?;
    gauge(
        registry,
        "marketplace_delisting_threshold",
        "More failed orders than this in a month and KooGallery delists the product",
        report.delisting_threshold,
    )?;
    let per_api = ["direction", "activity"];
    let calls = IntGaugeVec::new(
        Opts::new(
            "marketplace_calls_24h",
            "Marketplace calls over the last 24 hours",
        ),
        &per_api,
    )?;
    let errors = IntGaugeVec::new(
        Opts::new(
            "marketplace_errors_24h",
            "Marketplace calls over the last 24 hours not answered with success",
        ),
        &per_api,
    )?;
    let last_success = GaugeVec::new(
        Opts::new(
            "marketplace_last_success_timestamp_seconds",
            "When a call of this API last succeeded (Unix time)",
        ),
        &per_api,
    )?;
    for api in &report.apis {
        let labels = [api.direction.as_str(), api.activity.as_str()];
        calls.with_label_values(&labels).set(api.calls_24h);
        errors.with_label_values(&labels).set(api.errors_24h);
        if let Some(at) = api.last_success_at {
            last_success
                .with_label_values(&labels)
                .set(at.timestamp() as f64);
        }
    }
    registry.register(Box::new(calls))?;
    registry.register(Box::new(errors))?;
    registry.register(Box::new(last_success))?;

    let uploads = IntGaugeVec::new(
        Opts::new("uploads", "License upload jobs by status"),
        &["status"],
    )?;
    let counts = &report.uploads;
    for (status, n) in [
        ("pending", counts.pending),
        ("running", counts.running),
        ("done", counts.done),
        ("failed", counts.failed),
    ] {
        uploads.with_label_values(&[status]).set(n);
    }
    registry.register(Box::new(uploads))?;
    let oldest = counts
        .oldest_pending_at
        .map_or(0, |at| (Utc::now() - at).num_seconds().max(0));
    gauge(
        registry,
        "upload_oldest_pending_age_seconds",
        "Age of the oldest license upload still waiting, 0 when none waits",
        oldest,
    )?;
    let failed_jobs = IntGaugeVec::new(
        Opts::new("jobs_failed", "Background jobs that gave up, by kind"),
        &["kind"],
    )?;
    for (kind, n) in &report.failed_jobs {
        failed_jobs.with_label_values(&[kind.as_str()]).set(*n);
    }
    registry.register(Box::new(failed_jobs))
}

/// The active key's age and whether the keys directory still names it active: after a rotation
/// a node that was not restarted signs with the retired key.
fn key_gauges(keys: &KeyStore, dir: &Path) -> String {
    encode(|registry| {
        let kid = keys.active_kid();
        if let Some(made) = keys::kid_date(kid) {
            let age = Utc::now().date_naive() - made;
            gauge(
                registry,
                "signing_key_active_age_seconds",
                "Age of the key this node signs with, from the date in its id",
                age.num_seconds().max(0),
            )?;
        }
        let current = matches!(KeyStore::active_on_disk(dir), Ok(Some(on_disk)) if on_disk == kid);
        gauge(
            registry,
            "signing_key_active_current",
            "1 when the keys directory's active file names the key this node signs with, 0 once \
             it was rotated away (restart the node)",
            i64::from(current),
        )
    })
}
