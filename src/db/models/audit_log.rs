//! The audit log: every change made through the admin API (and `admin create-token`), with who
//! made it, what it touched and why. Rows are written in the same transaction as the change, so
//! a change without its audit row cannot exist.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::audit_log;

/// One audited change.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: String,
    /// The admin token's name (`cli` for the command line).
    pub actor: String,
    /// What was done, e.g. `license.revoke`.
    pub action: String,
    /// `license`, `activation`, `upload`, `token`.
    pub target_type: String,
    pub target_id: String,
    /// The reason the actor gave.
    pub reason: String,
    /// A JSON document with the change's particulars.
    pub detail: String,
    pub created_at: NaiveDateTime,
}

/// An audit row to write.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_log)]
pub struct NewAuditEntry {
    pub id: String,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub reason: String,
    pub detail: String,
    pub created_at: NaiveDateTime,
}

impl NewAuditEntry {
    /// A change made now by `actor`.
    pub fn new(
        actor: &str,
        action: &str,
        (target_type, target_id): (&str, &str),
        reason: &str,
        detail: &serde_json::Value,
    ) -> Self {
        Self {
            id: super::new_id(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target_type: target_type.to_owned(),
            target_id: target_id.to_owned(),
            reason: reason.to_owned(),
            detail: detail.to_string(),
            created_at: super::now(),
        }
    }
}

/// Writes `entry`.
pub fn insert(conn: &mut DbConn, entry: &NewAuditEntry) -> QueryResult<usize> {
    diesel::insert_into(audit_log::table)
        .values(entry)
        .execute(conn)
}

/// Filters for [`list`].
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub since: Option<NaiveDateTime>,
    /// Only rows older than this id (cursor pagination, newest first).
    pub before_id: Option<String>,
    pub limit: i64,
}

/// Newest rows first, filtered.
pub fn list(conn: &mut DbConn, filter: &AuditFilter) -> QueryResult<Vec<AuditEntry>> {
    let mut query = audit_log::table.into_boxed();
    if let Some(actor) = &filter.actor {
        query = query.filter(audit_log::actor.eq(actor.clone()));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_log::action.eq(action.clone()));
    }
    if let Some(target_type) = &filter.target_type {
        query = query.filter(audit_log::target_type.eq(target_type.clone()));
    }
    if let Some(target_id) = &filter.target_id {
        query = query.filter(audit_log::target_id.eq(target_id.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_log::created_at.ge(since));
    }
    if let Some(before) = &filter.before_id {
        query = query.filter(audit_log::id.lt(before.clone()));
    }
    query
        .order(audit_log::id.desc())
        .limit(filter.limit)
        .select(AuditEntry::as_select())
        .load(conn)
}
