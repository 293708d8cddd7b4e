//! Signed licenses and their revisions. A license once returned is stored and returned again
//! unchanged; a renewal adds a revision rather than rewriting history.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::dsl;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::ids::{ActivationId, CodeId, InstanceId, LicenseId};
use crate::db::schema::{license_revisions, licenses};
use crate::db::sql_time::{SqlTime, SqlTimeOpt};
use crate::db::text_enum::text_enum;
use crate::db::{DbConn, insert_unless_taken, on_backend};

text_enum! {
    /// Where a stored license comes from (the payload's `source`, as `licenses.source` spells it).
    pub enum Source {
        /// A machine bound to an authorization code (the client API).
        Authcode => "authcode",
        /// A device of an online-License instance (`getLicenseAsync`, legacy `getLicense`).
        Instance => "instance",
    }
}

impl From<crate::license_file::LicenseSource> for Source {
    fn from(source: crate::license_file::LicenseSource) -> Self {
        match source {
            crate::license_file::LicenseSource::Authcode => Self::Authcode,
            crate::license_file::LicenseSource::Instance => Self::Instance,
        }
    }
}

/// One license (its current revision).
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = licenses)]
pub struct License {
    pub id: LicenseId,
    pub source: Source,
    pub code_id: Option<CodeId>,
    pub instance_id: Option<InstanceId>,
    pub activation_id: Option<ActivationId>,
    pub event_id: Option<String>,
    pub fingerprint_sha256: String,
    pub revision: i64,
    pub file: String,
    #[diesel(deserialize_as = SqlTime)]
    pub not_before: NaiveDateTime,
    #[diesel(deserialize_as = SqlTimeOpt)]
    pub expires_at: Option<NaiveDateTime>,
    pub revoked: bool,
    #[diesel(deserialize_as = SqlTime)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = SqlTime)]
    pub updated_at: NaiveDateTime,
}

/// A license to store.
#[derive(Debug, Clone, Insertable, Serialize)]
// `None` is written as NULL, not as DEFAULT (the same for these nullable columns), so the
// statement's text never varies and Diesel caches it prepared.
#[diesel(table_name = licenses, treat_none_as_default_value = false)]
pub struct NewLicense {
    pub id: LicenseId,
    pub source: Source,
    pub code_id: Option<CodeId>,
    pub instance_id: Option<InstanceId>,
    pub activation_id: Option<ActivationId>,
    pub event_id: Option<String>,
    pub fingerprint_sha256: String,
    pub revision: i64,
    pub file: String,
    pub not_before: SqlTime,
    pub expires_at: Option<SqlTime>,
    pub revoked: bool,
    pub created_at: SqlTime,
    pub updated_at: SqlTime,
}

/// One revision of a license.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = license_revisions)]
pub struct LicenseRevision {
    pub id: String,
    pub license_id: LicenseId,
    pub revision: i64,
    pub file: String,
    pub expires_at: Option<NaiveDateTime>,
    pub reason: String,
    pub created_at: NaiveDateTime,
}

impl From<NewLicense> for License {
    fn from(new: NewLicense) -> Self {
        Self {
            id: new.id,
            source: new.source,
            code_id: new.code_id,
            instance_id: new.instance_id,
            activation_id: new.activation_id,
            event_id: new.event_id,
            fingerprint_sha256: new.fingerprint_sha256,
            revision: new.revision,
            file: new.file,
            not_before: new.not_before.into(),
            expires_at: new.expires_at.map(Into::into),
            revoked: new.revoked,
            created_at: new.created_at.into(),
            updated_at: new.updated_at.into(),
        }
    }
}

/// Stores `license` as revision 1. `Ok(false)` when a unique index (the same instance, event and
/// fingerprint; or the same activation) already holds a license: the caller reads the winner.
pub fn insert(conn: &mut DbConn, license: &NewLicense, reason: &str) -> QueryResult<bool> {
    conn.atomically(|conn| {
        if !insert_unless_taken!(conn, licenses::table, license)? {
            return Ok(false);
        }
        insert_revision(
            conn,
            &license.id,
            license.revision,
            &license.file,
            license.expires_at,
            reason,
            license.created_at,
        )?;
        Ok(true)
    })
}

fn insert_revision(
    conn: &mut DbConn,
    license_id: &LicenseId,
    revision: i64,
    file: &str,
    expires_at: Option<SqlTime>,
    reason: &str,
    now: SqlTime,
) -> QueryResult<usize> {
    on_backend!(conn, |c| diesel::insert_into(license_revisions::table)
        .values((
            license_revisions::id.eq(super::new_id()),
            license_revisions::license_id.eq(license_id),
            license_revisions::revision.eq(revision),
            license_revisions::file.eq(file),
            license_revisions::expires_at.eq(expires_at),
            license_revisions::reason.eq(reason),
            license_revisions::created_at.eq(now),
        ))
        .execute(c))
}

/// Makes `file` the license's next revision.
pub fn add_revision(
    conn: &mut DbConn,
    license: &License,
    file: &str,
    expires_at: Option<NaiveDateTime>,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    let revision = license.revision + 1;
    insert_revision(
        conn,
        &license.id,
        revision,
        file,
        expires_at.map(SqlTime),
        reason,
        SqlTime(now),
    )?;
    diesel::update(licenses::table.find(&license.id))
        .set((
            licenses::revision.eq(revision),
            licenses::file.eq(file),
            licenses::expires_at.eq(expires_at),
            licenses::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(revision)
}

/// The current file of license `id`, without the rest of its row (what an upload sends).
pub fn file_of(conn: &mut DbConn, id: &LicenseId) -> QueryResult<Option<String>> {
    licenses::table
        .find(id)
        .select(licenses::file)
        .first(conn)
        .optional()
}

/// The license by id.
pub fn find(conn: &mut DbConn, id: &LicenseId) -> QueryResult<Option<License>> {
    on_backend!(conn, |c| licenses::table
        .find(id)
        .select(License::as_select())
        .first(c)
        .optional())
}

/// The license issued for this `getLicenseAsync` request.
pub fn find_for_event(
    conn: &mut DbConn,
    instance_id: &InstanceId,
    event_id: &str,
    fingerprint_sha256: &str,
) -> QueryResult<Option<License>> {
    licenses::table
        .filter(licenses::instance_id.eq(instance_id))
        .filter(licenses::event_id.eq(event_id))
        .filter(licenses::fingerprint_sha256.eq(fingerprint_sha256))
        .select(License::as_select())
        .first(conn)
        .optional()
}

/// The license of an activation.
pub fn find_for_activation(
    conn: &mut DbConn,
    activation_id: &ActivationId,
) -> QueryResult<Option<License>> {
    on_backend!(conn, |c| licenses::table
        .filter(licenses::activation_id.eq(activation_id))
        .select(License::as_select())
        .first(c)
        .optional())
}

/// The filter of a license that takes an instance's quota: it is not revoked. Every count of an
/// instance's licensed devices uses it.
fn holds_quota() -> dsl::Eq<licenses::revoked, bool> {
    licenses::revoked.eq(false)
}

/// Distinct devices holding an unrevoked license of the instance (its used quota).
pub fn count_devices(conn: &mut DbConn, instance_id: &InstanceId) -> QueryResult<i64> {
    licenses::table
        .filter(licenses::instance_id.eq(instance_id))
        .filter(holds_quota())
        .select(dsl::count_distinct(licenses::fingerprint_sha256))
        .get_result(conn)
}

/// Distinct devices holding an unrevoked license, for each of the instances `instance_ids` (an
/// instance without any is absent).
pub fn count_devices_by_instance(
    conn: &mut DbConn,
    instance_ids: &[InstanceId],
) -> QueryResult<HashMap<InstanceId, i64>> {
    let counts: Vec<(Option<InstanceId>, i64)> = licenses::table
        .filter(licenses::instance_id.eq_any(instance_ids))
        .filter(holds_quota())
        .group_by(licenses::instance_id)
        .select((
            licenses::instance_id,
            dsl::count_distinct(licenses::fingerprint_sha256),
        ))
        .load(conn)?;
    Ok(counts
        .into_iter()
        .filter_map(|(id, n)| id.map(|id| (id, n)))
        .collect())
}

/// The device holds an unrevoked license of the instance (it is counted in the used quota).
pub fn device_holds_license(
    conn: &mut DbConn,
    instance_id: &InstanceId,
    fingerprint_sha256: &str,
) -> QueryResult<bool> {
    diesel::select(dsl::exists(
        licenses::table
            .filter(licenses::instance_id.eq(instance_id))
            .filter(holds_quota())
            .filter(licenses::fingerprint_sha256.eq(fingerprint_sha256)),
    ))
    .get_result(conn)
}

/// Every revision of a license, oldest first.
pub fn revisions(conn: &mut DbConn, license_id: &LicenseId) -> QueryResult<Vec<LicenseRevision>> {
    license_revisions::table
        .filter(license_revisions::license_id.eq(license_id))
        .order(license_revisions::revision.asc())
        .select(LicenseRevision::as_select())
        .load(conn)
}

/// Licenses of an instance, oldest first.
pub fn for_instance(conn: &mut DbConn, instance_id: &InstanceId) -> QueryResult<Vec<License>> {
    licenses::table
        .filter(licenses::instance_id.eq(instance_id))
        .order(licenses::created_at.asc())
        .select(License::as_select())
        .load(conn)
}

/// Licenses of a code, oldest first.
pub fn for_code(conn: &mut DbConn, code_id: &CodeId) -> QueryResult<Vec<License>> {
    licenses::table
        .filter(licenses::code_id.eq(code_id))
        .order(licenses::created_at.asc())
        .select(License::as_select())
        .load(conn)
}

/// Revokes or reinstates; returns true when it changed.
pub fn set_revoked(
    conn: &mut DbConn,
    id: &LicenseId,
    revoked: bool,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        licenses::table
            .find(id)
            .filter(licenses::revoked.ne(revoked)),
    )
    .set((licenses::revoked.eq(revoked), licenses::updated_at.eq(now)))
    .execute(conn)
    .map(|n| n == 1)
}
