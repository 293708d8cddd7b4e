//! What each job kind does when it runs.

use super::{QueryOrder, UploadLicense, UsageReport};
use crate::db::models::jobs::{Job, JobKind};
use crate::db::models::orders::{self, OrderRecord};
use crate::db::models::{code_usage, licenses};
use crate::db::{self, Pool};
use crate::koogallery::client::{MAX_USAGE_BATCH, MarketplaceClient, MarketplaceError, UsageEntry};
use crate::telemetry::code_hint;

/// Why a job's attempt failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum JobError {
    #[error(transparent)]
    Marketplace(#[from] MarketplaceError),
    #[error("database: {0}")]
    Db(String),
    /// Retrying cannot help (a malformed payload, a license that no longer exists).
    #[error("{0}")]
    Permanent(String),
}

impl From<diesel::result::Error> for JobError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.to_string())
    }
}

impl From<db::Unavailable> for JobError {
    fn from(e: db::Unavailable) -> Self {
        Self::Db(e.0)
    }
}

/// Runs one attempt of `job` according to its kind.
pub(super) async fn perform(
    pool: &Pool,
    client: &MarketplaceClient,
    job: &Job,
) -> Result<(), JobError> {
    let payload =
        |e: serde_json::Error| JobError::Permanent(format!("malformed {} payload: {e}", job.kind));
    match job.kind {
        JobKind::UploadLicense => {
            upload(
                pool,
                client,
                serde_json::from_str(&job.payload).map_err(payload)?,
            )
            .await
        }
        JobKind::QueryOrder => {
            query_order(
                pool,
                client,
                serde_json::from_str(&job.payload).map_err(payload)?,
            )
            .await
        }
        JobKind::UsageReport => {
            usage(
                pool,
                client,
                serde_json::from_str(&job.payload).map_err(payload)?,
            )
            .await
        }
    }
}

async fn upload(
    pool: &Pool,
    client: &MarketplaceClient,
    task: UploadLicense,
) -> Result<(), JobError> {
    let id = task.license_id.clone();
    let file = db::run(pool, move |conn| {
        licenses::file_of(conn, &id).map_err(JobError::from)
    })
    .await?
    .ok_or_else(|| JobError::Permanent(format!("license {} does not exist", task.license_id)))?;
    client.upload_license(&task.event_id, &file).await?;
    Ok(())
}

async fn query_order(
    pool: &Pool,
    client: &MarketplaceClient,
    task: QueryOrder,
) -> Result<(), JobError> {
    let order = client
        .query_order(&task.order_id, Some(&task.order_line_id))
        .await?;
    let records: Vec<OrderRecord> = order.lines.iter().map(|line| order.record(line)).collect();
    // The line asked for; a one-line answer is that line even if KooGallery renamed it.
    let Some(mine) = records
        .iter()
        .find(|r| r.order_line_id == task.order_line_id)
        .or_else(|| (records.len() == 1).then(|| &records[0]))
        .cloned()
    else {
        return Err(MarketplaceError::Protocol(format!(
            "order {} has no line {}",
            task.order_id, task.order_line_id
        ))
        .into());
    };
    db::run(pool, move |conn| {
        conn.write_tx(|conn| {
            for record in &records {
                orders::upsert(conn, record)?;
            }
            if orders::fill_instance(conn, &task.instance_id, &mine)? == 0 {
                tracing::warn!(instance.id = %task.instance_id, "order fetched for an unknown instance");
            }
            Ok::<_, JobError>(())
        })
    })
    .await
}

async fn usage(pool: &Pool, client: &MarketplaceClient, task: UsageReport) -> Result<(), JobError> {
    let day = task.day.clone();
    let counts = db::run(pool, move |conn| {
        code_usage::machines_per_code(conn, &day).map_err(JobError::from)
    })
    .await?;
    let entries: Vec<UsageEntry> = counts
        .into_iter()
        .map(|(license, active_num)| UsageEntry {
            license,
            active_num,
        })
        .collect();
    for batch in entries.chunks(MAX_USAGE_BATCH) {
        let outcome = client.report_usage(batch).await?;
        if !outcome.failed_codes.is_empty() {
            let hints: Vec<String> = outcome.failed_codes.iter().map(|c| code_hint(c)).collect();
            tracing::warn!(usage.day = %task.day, codes = ?hints, "KooGallery refused some codes' usage");
        }
    }
    tracing::info!(usage.day = %task.day, usage.codes = entries.len(), "usage reported");
    Ok(())
}
