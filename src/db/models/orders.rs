//! Orders as `KooGallery`'s order query returned them, one row per order line. An instance's
//! product, quota, charging mode and expiry come from here.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::ids::InstanceId;
use crate::db::schema::{instances, orders};
use crate::db::{DbConn, insert_unless_taken};

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, Serialize)]
// `None` is written as NULL, not as DEFAULT (the same for these nullable columns), so the
// statement's text never varies and Diesel caches it prepared.
#[diesel(table_name = orders, treat_none_as_default_value = false)]
pub struct OrderRecord {
    pub order_id: String,
    pub order_line_id: String,
    /// `NEW`, `RENEW`, `CHANGE`, …
    pub order_type: String,
    pub product_id: Option<String>,
    /// Units bought: the instance's license quota.
    pub quantity: Option<i64>,
    pub charging_mode: Option<String>,
    pub expires_at: Option<NaiveDateTime>,
    /// The `orderInfo` JSON as received (without buyer data).
    pub raw: String,
    pub fetched_at: NaiveDateTime,
}

/// Stores `record`, replacing an earlier fetch of the same line. Portable: an insert that loses
/// to an existing row (see [`insert_unless_taken`]) becomes an update.
pub fn upsert(conn: &mut DbConn, record: &OrderRecord) -> QueryResult<()> {
    if !insert_unless_taken!(conn, orders::table, record)? {
        diesel::update(orders::table.find((&record.order_id, &record.order_line_id)))
            .set((
                orders::order_type.eq(&record.order_type),
                orders::product_id.eq(&record.product_id),
                orders::quantity.eq(record.quantity),
                orders::charging_mode.eq(&record.charging_mode),
                orders::expires_at.eq(record.expires_at),
                orders::raw.eq(&record.raw),
                orders::fetched_at.eq(record.fetched_at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The stored line `(order_id, order_line_id)`.
pub fn find(
    conn: &mut DbConn,
    order_id: &str,
    order_line_id: &str,
) -> QueryResult<Option<OrderRecord>> {
    orders::table
        .find((order_id, order_line_id))
        .select(OrderRecord::as_select())
        .first(conn)
        .optional()
}

/// What [`apply_to_instance`] writes; `None` fields are left as they are.
#[derive(AsChangeset)]
#[diesel(table_name = instances)]
struct InstanceTerms<'a> {
    product_id: Option<&'a str>,
    quantity: Option<i64>,
    charging_mode: Option<&'a str>,
    expires_at: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
}

/// Gives instance `instance_id` the product, quantity, charging mode and expiry of `record`.
/// Fields the order does not state keep the instance's current value (what `newInstance` said),
/// since an order line without, say, `expireTime` says nothing about the expiry. Returns the
/// rows changed (0 for an unknown instance).
pub fn apply_to_instance(
    conn: &mut DbConn,
    instance_id: &InstanceId,
    record: &OrderRecord,
) -> QueryResult<usize> {
    let terms = InstanceTerms {
        product_id: record.product_id.as_deref(),
        quantity: record.quantity,
        charging_mode: record.charging_mode.as_deref(),
        expires_at: record.expires_at,
        updated_at: super::now(),
    };
    diesel::update(instances::table.find(instance_id))
        .set(&terms)
        .execute(conn)
}

diesel::define_sql_function! {
    /// SQL `COALESCE` of two values: the first that is not null.
    fn coalesce<T: diesel::sql_types::SqlType + diesel::sql_types::SingleValue>(
        first: diesel::sql_types::Nullable<T>,
        second: diesel::sql_types::Nullable<T>,
    ) -> diesel::sql_types::Nullable<T>;
}

/// Gives instance `instance_id` the terms of its own (base) order line, but only those it does
/// not know yet. A base-order fetch can finish after an upgrade or a renewal changed the instance
/// (it runs in the background, and may be retried for hours); its older terms must not undo them.
/// Returns the rows matched (0 for an unknown instance).
pub fn fill_instance(
    conn: &mut DbConn,
    instance_id: &InstanceId,
    record: &OrderRecord,
) -> QueryResult<usize> {
    diesel::update(instances::table.find(instance_id))
        .set((
            instances::product_id.eq(coalesce(
                instances::product_id,
                record.product_id.as_deref(),
            )),
            instances::quantity.eq(coalesce(instances::quantity, record.quantity)),
            instances::charging_mode.eq(coalesce(
                instances::charging_mode,
                record.charging_mode.as_deref(),
            )),
            instances::expires_at.eq(coalesce(instances::expires_at, record.expires_at)),
            instances::updated_at.eq(super::now()),
        ))
        .execute(conn)
}
