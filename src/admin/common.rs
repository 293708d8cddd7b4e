//! What every admin endpoint shares: pages and cursors, the required `reason`, parsing of query
//! strings and bodies (after authentication, so an anonymous caller always gets `401`), times,
//! and the audit row every change writes.

use actix_web::{HttpRequest, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::QueryResult;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use crate::db::DbConn;
use crate::db::models::audit_log::{self, NewAuditEntry};
use crate::error::ApiError;

pub use crate::error::ErrorBody;

/// Items per page when `limit` is absent.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest `limit` accepted.
pub const MAX_LIMIT: i64 = 200;
/// The longest `reason` accepted, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// One page of a list, newest first. Pass `next_cursor` as `cursor` for the next page; `null`
/// means this was the last page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from rows fetched with `limit + 1` (see [`Limit::fetch`]): the extra row only says
    /// that another page exists.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: Limit,
        cursor_of: impl Fn(&R) -> String,
        view: impl FnMut(R) -> T,
    ) -> Self {
        let more = rows.len() > limit.get();
        rows.truncate(limit.get());
        let next_cursor = if more {
            rows.last().map(cursor_of)
        } else {
            None
        };
        Self {
            items: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

/// A checked page size.
#[derive(Debug, Clone, Copy)]
pub struct Limit(i64);

impl Limit {
    /// `raw` if it lies in 1..=[`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
    pub fn parse(raw: Option<i64>) -> Result<Self, ApiError> {
        match raw {
            None => Ok(Self(DEFAULT_LIMIT)),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(Self(n)),
            Some(_) => Err(ApiError::InvalidRequest(format!(
                "limit: must be between 1 and {MAX_LIMIT}"
            ))),
        }
    }

    /// Rows to fetch: one more than the page holds.
    pub fn fetch(self) -> i64 {
        self.0 + 1
    }

    fn get(self) -> usize {
        usize::try_from(self.0).unwrap_or(0)
    }
}

/// Why a change is made: required, trimmed, 1 to 500 characters.
#[derive(Debug, Clone)]
pub struct Reason(String);

impl Reason {
    /// A reason from what the caller sent.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ApiError::InvalidRequest(
                "reason: required, say why this change is made".into(),
            ));
        }
        if trimmed.chars().count() > MAX_REASON_CHARS {
            return Err(ApiError::InvalidRequest(format!(
                "reason: at most {MAX_REASON_CHARS} characters"
            )));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The reason text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The body of an action: why it is done.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReasonBody {
    /// Required; 1 to 500 characters. Written to the audit log.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// The `reason` of a `DELETE`, given in the query string (bodies of `DELETE` requests are
/// dropped by too many HTTP clients and proxies).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReasonQuery {
    /// Required; 1 to 500 characters. Written to the audit log.
    #[serde(default)]
    #[param(required = true)]
    pub reason: String,
}

/// The query string as `T`; `400 INVALID_REQUEST` when it does not parse.
pub fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::InvalidRequest(format!("invalid query string: {e}")))
}

/// The JSON body as `T`; `400 INVALID_REQUEST` when it does not parse.
pub fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::InvalidRequest(format!("invalid JSON body: {e}")))
}

/// A reason from an action's JSON body.
pub fn reason_from_body(bytes: &[u8]) -> Result<Reason, ApiError> {
    Reason::parse(&body::<ReasonBody>(bytes)?.reason)
}

/// A reason from a `DELETE`'s query string.
pub fn reason_from_query(req: &HttpRequest) -> Result<Reason, ApiError> {
    Reason::parse(&query::<ReasonQuery>(req)?.reason)
}

/// A `since`/`until` filter: an RFC 3339 time, e.g. `2026-11-01T00:00:00Z`.
pub fn parse_time(name: &str, raw: Option<&str>) -> Result<Option<NaiveDateTime>, ApiError> {
    raw.filter(|s| !s.is_empty())
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.naive_utc())
                .map_err(|_| {
                    ApiError::InvalidRequest(format!(
                        "{name}: expected an RFC 3339 time such as 2026-11-01T00:00:00Z"
                    ))
                })
        })
        .transpose()
}

/// A stored UTC time as shown in responses (RFC 3339 with `Z`).
pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// An optional stored time, see [`utc`].
pub fn utc_opt(t: Option<NaiveDateTime>) -> Option<DateTime<Utc>> {
    t.map(utc)
}

/// A stored JSON document as a value (text that is not JSON is shown as a string).
pub fn json_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

/// An empty filter is no filter.
pub fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Writes the audit row of a change made by `caller`, inside the change's transaction.
pub fn audit(
    conn: &mut DbConn,
    caller: &Caller,
    action: &str,
    target: (&str, &str),
    reason: &Reason,
    mut detail: serde_json::Value,
) -> QueryResult<()> {
    if let (Some(map), Some(token_id)) = (detail.as_object_mut(), &caller.token_id) {
        // The name is the actor; the id tells apart two tokens that once shared a name.
        map.insert(
            "actor_token_id".into(),
            serde_json::Value::String(token_id.clone()),
        );
    }
    let entry = NewAuditEntry::new(&caller.name, action, target, reason.as_str(), &detail);
    audit_log::insert(conn, &entry)?;
    tracing::info!(
        admin.actor = %caller.name,
        admin.action = action,
        admin.target = %format!("{}:{}", target.0, target.1),
        "admin change"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_required_trimmed_and_bounded() {
        assert!(Reason::parse("").is_err());
        assert!(Reason::parse("   ").is_err());
        assert_eq!(
            Reason::parse("  new laptop ")
                .map(|r| r.as_str().to_owned())
                .ok(),
            Some("new laptop".into())
        );
        assert!(Reason::parse(&"é".repeat(500)).is_ok());
        assert!(Reason::parse(&"é".repeat(501)).is_err());
    }

    proptest::proptest! {
        #[test]
        fn a_reason_is_accepted_exactly_when_its_trimmed_text_has_1_to_500_chars(raw in "\\PC{0,520}") {
            let trimmed = raw.trim();
            let expected = (1..=MAX_REASON_CHARS).contains(&trimmed.chars().count());
            let parsed = Reason::parse(&raw);
            proptest::prop_assert_eq!(parsed.is_ok(), expected);
            if let Ok(reason) = parsed {
                proptest::prop_assert_eq!(reason.as_str(), trimmed);
            }
        }
    }

    #[test]
    fn limits_default_and_stay_in_range() {
        assert_eq!(
            Limit::parse(None).map(Limit::fetch).ok(),
            Some(DEFAULT_LIMIT + 1)
        );
        assert!(Limit::parse(Some(0)).is_err());
        assert!(Limit::parse(Some(MAX_LIMIT + 1)).is_err());
        assert_eq!(Limit::parse(Some(1)).map(Limit::fetch).ok(), Some(2));
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_exist() {
        let limit = Limit::parse(Some(2)).unwrap_or(Limit(2));
        let page = Page::from_rows(vec![3, 2, 1], limit, ToString::to_string, |n| n);
        assert_eq!(page.items, vec![3, 2]);
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
        let last = Page::from_rows(vec![1], limit, ToString::to_string, |n| n);
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn times_are_rfc3339() {
        assert!(parse_time("since", Some("2026-11-01T00:00:00Z")).is_ok_and(|t| t.is_some()));
        assert!(parse_time("since", Some("2026-11-01")).is_err());
        assert!(parse_time("since", None).is_ok_and(|t| t.is_none()));
    }
}
