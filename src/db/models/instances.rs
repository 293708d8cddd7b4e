//! Online-License instances, created by `newInstance` and keyed by (order, order line).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::ids::InstanceId;
use crate::db::schema::instances;
use crate::db::text_enum::text_enum;
use crate::db::{DbConn, insert_unless_taken};

text_enum! {
    /// An instance's state.
    pub enum InstanceStatus {
        /// In use.
        Active => "ACTIVE",
        /// Frozen by KooGallery (expired, in the grace period).
        Frozen => "FROZEN",
        /// Released by KooGallery: final.
        Released => "RELEASED",
    }
}

/// One instance.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = instances)]
pub struct Instance {
    pub instance_id: InstanceId,
    pub order_id: String,
    pub order_line_id: String,
    pub status: InstanceStatus,
    pub product_id: Option<String>,
    pub quantity: Option<i64>,
    pub charging_mode: Option<String>,
    pub expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Creates the instance for (`order_id`, `order_line_id`) unless one exists; returns the instance
/// that owns the order line and whether this call created it.
///
/// `Ok(None)`: `instance_id` is already taken by another order line.
pub fn create_or_find(
    conn: &mut DbConn,
    instance_id: &InstanceId,
    order_id: &str,
    order_line_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<(Instance, bool)>> {
    if let Some(existing) = find_by_order(conn, order_id, order_line_id)? {
        return Ok(Some((existing, false)));
    }
    let inserted = insert_unless_taken!(
        conn,
        instances::table,
        (
            instances::instance_id.eq(instance_id),
            instances::order_id.eq(order_id),
            instances::order_line_id.eq(order_line_id),
            instances::status.eq(InstanceStatus::Active),
            instances::created_at.eq(now),
            instances::updated_at.eq(now),
        )
    )?;
    if inserted {
        return Ok(find(conn, instance_id)?.map(|i| (i, true)));
    }
    // Lost a race for the order line (or the id is taken): the winner's row is committed now.
    Ok(find_by_order(conn, order_id, order_line_id)?.map(|i| (i, false)))
}

/// Instances not released yet.
pub fn count_live(conn: &mut DbConn) -> QueryResult<i64> {
    instances::table
        .filter(instances::status.ne(InstanceStatus::Released))
        .count()
        .get_result(conn)
}

/// The instance with this id.
pub fn find(conn: &mut DbConn, instance_id: &InstanceId) -> QueryResult<Option<Instance>> {
    instances::table
        .find(instance_id)
        .select(Instance::as_select())
        .first(conn)
        .optional()
}

/// The instance created for this order line.
pub fn find_by_order(
    conn: &mut DbConn,
    order_id: &str,
    order_line_id: &str,
) -> QueryResult<Option<Instance>> {
    instances::table
        .filter(instances::order_id.eq(order_id))
        .filter(instances::order_line_id.eq(order_line_id))
        .select(Instance::as_select())
        .first(conn)
        .optional()
}

/// Locks the instance's row for the rest of the transaction (an `UPDATE` takes a row lock on
/// PostgreSQL; SQLite's `BEGIN IMMEDIATE` already serialises writers). Returns the fresh row.
pub fn lock(
    conn: &mut DbConn,
    instance_id: &InstanceId,
    now: NaiveDateTime,
) -> QueryResult<Option<Instance>> {
    let touched = diesel::update(instances::table.find(instance_id))
        .set(instances::updated_at.eq(now))
        .execute(conn)?;
    if touched == 0 {
        return Ok(None);
    }
    find(conn, instance_id)
}

/// Sets the status; returns true when it changed.
pub fn set_status(
    conn: &mut DbConn,
    instance: &Instance,
    new_status: InstanceStatus,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    if instance.status == new_status {
        return Ok(false);
    }
    diesel::update(instances::table.find(&instance.instance_id))
        .set((
            instances::status.eq(new_status),
            instances::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(true)
}

/// A renewal or period change: the new expiry, and the new product when the period type changed.
pub fn set_expiry(
    conn: &mut DbConn,
    instance_id: &InstanceId,
    expires_at: NaiveDateTime,
    product_id: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let target = instances::table.find(instance_id);
    match product_id {
        Some(product) => diesel::update(target)
            .set((
                instances::expires_at.eq(expires_at),
                instances::product_id.eq(product),
                instances::updated_at.eq(now),
            ))
            .execute(conn),
        None => diesel::update(target)
            .set((
                instances::expires_at.eq(expires_at),
                instances::updated_at.eq(now),
            ))
            .execute(conn),
    }
}

/// The instances among `ids` that exist, in the order asked.
pub fn existing_ids(conn: &mut DbConn, ids: &[InstanceId]) -> QueryResult<Vec<InstanceId>> {
    let found: Vec<InstanceId> = instances::table
        .filter(instances::instance_id.eq_any(ids))
        .select(instances::instance_id)
        .load(conn)?;
    Ok(ids
        .iter()
        .filter(|id| found.contains(id))
        .cloned()
        .collect())
}

/// What the admin instance search filters by; `None` filters nothing.
#[derive(Debug, Default)]
pub struct Search<'a> {
    /// An exact instance, order or product id.
    pub text: Option<&'a str>,
    pub status: Option<InstanceStatus>,
    /// Instances listed after this one (the page cursor).
    pub after: Option<&'a Instance>,
}

/// Instances matching `filter`, newest first, at most `limit`.
pub fn search(conn: &mut DbConn, filter: &Search<'_>, limit: i64) -> QueryResult<Vec<Instance>> {
    let mut query = instances::table.into_boxed();
    if let Some(text) = filter.text {
        query = query.filter(
            instances::instance_id
                .eq(text.to_owned())
                .or(instances::order_id.eq(text.to_owned()))
                .or(instances::product_id.eq(text.to_owned())),
        );
    }
    if let Some(status) = filter.status {
        query = query.filter(instances::status.eq(status));
    }
    if let Some(after) = filter.after {
        query = query.filter(
            instances::created_at
                .lt(after.created_at)
                .or(instances::created_at
                    .eq(after.created_at)
                    .and(instances::instance_id.lt(after.instance_id.clone()))),
        );
    }
    query
        .order((instances::created_at.desc(), instances::instance_id.desc()))
        .limit(limit)
        .select(Instance::as_select())
        .load(conn)
}
