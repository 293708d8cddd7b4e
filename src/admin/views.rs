//! The shapes detail views share (licenses with their revisions, event history, uploads) and the
//! reads that assemble them.

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use serde::Serialize;
use utoipa::ToSchema;

use super::common::{json_value, utc, utc_opt};
use crate::db::DbConn;
use crate::db::ids::{ActivationId, CodeId, InstanceId, LicenseId};
use crate::db::models::events::{self, Event, Subject};
use crate::db::models::jobs::JobKind;
use crate::db::models::jobs::{self, Job};
use crate::db::models::licenses::{self, License, LicenseRevision};
use crate::koogallery::outbox::UploadLicense;

/// One revision of a license.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionView {
    pub revision: i64,
    pub expires_at: Option<DateTime<Utc>>,
    /// Why this revision was issued (first issue, renewal, …).
    pub reason: String,
    pub created_at: DateTime<Utc>,
    /// The license file of this revision (only in the license detail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl RevisionView {
    fn new(row: LicenseRevision, with_file: bool) -> Self {
        Self {
            revision: row.revision,
            expires_at: utc_opt(row.expires_at),
            reason: row.reason,
            created_at: utc(row.created_at),
            file: with_file.then_some(row.file),
        }
    }
}

/// A license and its revisions, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LicenseView {
    #[schema(value_type = String)]
    pub id: LicenseId,
    /// `authcode` or `instance`.
    pub source: String,
    #[schema(value_type = Option<String>)]
    pub code_id: Option<CodeId>,
    #[schema(value_type = Option<String>)]
    pub instance_id: Option<InstanceId>,
    #[schema(value_type = Option<String>)]
    pub activation_id: Option<ActivationId>,
    /// `getLicenseAsync`'s `eventId` (instance licenses).
    pub event_id: Option<String>,
    pub fingerprint_sha256: String,
    /// The current revision.
    pub revision: i64,
    pub not_before: DateTime<Utc>,
    /// `null`: perpetual.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revoked by support: check-in and activation answer `REVOKED`.
    pub revoked: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The current license file (only in the license detail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub revisions: Vec<RevisionView>,
}

/// An entry of a history, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: String,
    /// `code`, `instance`, `license` or `activation`.
    pub subject_type: String,
    pub subject_id: String,
    /// What happened: `created`, `refreshed`, `frozen`, `revoked`, `deactivated`, …
    pub kind: String,
    /// Particulars of the event.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        Self {
            id: e.id,
            subject_type: e.subject_type.as_str().to_owned(),
            subject_id: e.subject_id,
            kind: e.kind.as_str().to_owned(),
            detail: json_value(&e.detail),
            created_at: utc(e.created_at),
        }
    }
}

/// A license upload to KooGallery (a background job).
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadView {
    /// The job id (for `POST /admin/v1/uploads/{id}/retry`).
    pub id: String,
    #[schema(value_type = Option<String>)]
    pub license_id: Option<LicenseId>,
    /// `getLicenseAsync`'s `eventId`.
    pub event_id: Option<String>,
    /// `pending`, `running`, `done` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    /// When the next attempt is due (pending uploads).
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Job> for UploadView {
    fn from(job: Job) -> Self {
        let payload: Option<UploadLicense> = serde_json::from_str(&job.payload).ok();
        Self {
            id: job.id,
            license_id: payload.as_ref().map(|p| p.license_id.clone()),
            event_id: payload.map(|p| p.event_id),
            status: job.status.as_str().to_owned(),
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            run_at: utc(job.run_at),
            last_error: job.last_error,
            created_at: utc(job.created_at),
            updated_at: utc(job.updated_at),
        }
    }
}

/// `license` with its revisions; files only when `with_files`.
pub fn license_view(
    conn: &mut DbConn,
    license: License,
    with_files: bool,
) -> QueryResult<LicenseView> {
    let revisions = licenses::revisions(conn, &license.id)?
        .into_iter()
        .map(|r| RevisionView::new(r, with_files))
        .collect();
    Ok(LicenseView {
        id: license.id,
        source: license.source.as_str().to_owned(),
        code_id: license.code_id,
        instance_id: license.instance_id,
        activation_id: license.activation_id,
        event_id: license.event_id,
        fingerprint_sha256: license.fingerprint_sha256,
        revision: license.revision,
        not_before: utc(license.not_before),
        expires_at: utc_opt(license.expires_at),
        revoked: license.revoked,
        created_at: utc(license.created_at),
        updated_at: utc(license.updated_at),
        file: with_files.then_some(license.file),
        revisions,
    })
}

/// Views of `licenses` without files.
pub fn license_views(conn: &mut DbConn, licenses: Vec<License>) -> QueryResult<Vec<LicenseView>> {
    licenses
        .into_iter()
        .map(|l| license_view(conn, l, false))
        .collect()
}

/// The merged history of several subjects (`(subject_type, subject_id)`), oldest first.
pub fn history(conn: &mut DbConn, subjects: &[(Subject, &str)]) -> QueryResult<Vec<EventView>> {
    let mut all: Vec<Event> = Vec::new();
    for (subject_type, subject_id) in subjects {
        all.extend(events::for_subject(conn, *subject_type, subject_id)?);
    }
    // Ids are time-ordered UUIDv7s: they break ties between events of the same microsecond.
    all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(all.into_iter().map(EventView::from).collect())
}

/// The upload jobs of these licenses, oldest first.
pub fn uploads_of(conn: &mut DbConn, license_ids: &[&LicenseId]) -> QueryResult<Vec<UploadView>> {
    let mut found = Vec::new();
    for id in license_ids {
        // `outbox::enqueue_upload` keys an upload by its license.
        if let Some(job) = jobs::find_by_dedupe_key(conn, &format!("upload:{id}"))? {
            if job.kind == JobKind::UploadLicense {
                found.push(job);
            }
        }
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found.into_iter().map(UploadView::from).collect())
}
