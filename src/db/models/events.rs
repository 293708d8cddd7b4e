//! History of codes, instances and licenses. A `dedupe_key` makes a marketplace callback apply
//! once: the unique index rejects the second insert on any node, at any moment.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::events;
use crate::db::sql_time::SqlTime;
use crate::db::text_enum::text_enum;
use crate::db::{DbConn, insert_unless_taken};

text_enum! {
    /// What an event is about (`subject_type`); `subject_id` is that row's id.
    pub enum Subject {
        /// An authorization code (`auth_codes.id`).
        Code => "code",
        /// A binding of a code to a machine (`activations.id`).
        Activation => "activation",
        /// A license (`licenses.id`).
        License => "license",
        /// An online-License instance (`instances.instance_id`).
        Instance => "instance",
    }
}

text_enum! {
    /// What happened (`kind`). Every spelling ever written is here: history is read back.
    pub enum EventKind {
        /// A code activated with KooGallery; a machine bound to a code.
        Activated => "activated",
        /// A binding's seat freed (`detail.by`: client or support).
        Deactivated => "deactivated",
        /// A binding moved to its machine's new fingerprint.
        FingerprintChanged => "fingerprint_changed",
        /// A license's next revision with its code's new expiry.
        Renewed => "renewed",
        /// KooGallery set a new expiry (refreshLicenseCode, refreshInstance).
        Refreshed => "refreshed",
        /// KooGallery froze the code or instance.
        Frozen => "frozen",
        /// KooGallery unfroze it.
        Unfrozen => "unfrozen",
        /// KooGallery released it.
        Released => "released",
        /// The daily query changed the code.
        Queried => "queried",
        /// A new online-License instance.
        Created => "created",
        /// An instance took its upgrade order's product and quantity.
        Upgraded => "upgraded",
        /// A license issued for an instance.
        LicenseIssued => "license_issued",
        /// Support revoked the license.
        Revoked => "revoked",
        /// Support reinstated it.
        Reinstated => "reinstated",
        /// Support retried a failed upload.
        UploadRetried => "upload_retried",
    }
}

impl EventKind {
    /// `Frozen` or `Unfrozen`: what a FREEZE / UNFREEZE of a code or instance records.
    pub fn freeze(freeze: bool) -> Self {
        if freeze { Self::Frozen } else { Self::Unfrozen }
    }
}

/// One recorded event.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = events)]
pub struct Event {
    pub id: String,
    pub subject_type: Subject,
    pub subject_id: String,
    pub kind: EventKind,
    pub dedupe_key: Option<String>,
    pub detail: String,
    pub created_at: NaiveDateTime,
}

/// An event to record; `detail` is a JSON document.
#[derive(Debug, Clone, Insertable, Serialize)]
// `None` is written as NULL, not as DEFAULT (the same for these nullable columns), so the
// statement's text never varies and Diesel caches it prepared.
#[diesel(table_name = events, treat_none_as_default_value = false)]
pub struct NewEvent {
    pub id: String,
    pub subject_type: Subject,
    pub subject_id: String,
    pub kind: EventKind,
    pub dedupe_key: Option<String>,
    pub detail: String,
    pub created_at: SqlTime,
}

impl NewEvent {
    /// An event about `subject_type`/`subject_id`, now.
    pub fn new(
        subject_type: Subject,
        subject_id: impl AsRef<str>,
        kind: EventKind,
        detail: &serde_json::Value,
    ) -> Self {
        Self {
            id: super::new_id(),
            subject_type,
            subject_id: subject_id.as_ref().to_owned(),
            kind,
            dedupe_key: None,
            detail: detail.to_string(),
            created_at: super::now().into(),
        }
    }

    /// The same event, applied at most once per `key`.
    #[must_use]
    pub fn once(mut self, key: String) -> Self {
        self.dedupe_key = Some(key);
        self
    }
}

/// Records `event`; `Ok(false)` when an event with the same dedupe key already exists.
pub fn insert(conn: &mut DbConn, event: &NewEvent) -> QueryResult<bool> {
    insert_unless_taken!(conn, events::table, event)
}

/// True when an event with this dedupe key was recorded.
pub fn seen(conn: &mut DbConn, key: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        events::table.filter(events::dedupe_key.eq(key)),
    ))
    .get_result(conn)
}

/// The history of one subject, oldest first.
pub fn for_subject(
    conn: &mut DbConn,
    subject_type: Subject,
    subject_id: &str,
) -> QueryResult<Vec<Event>> {
    events::table
        .filter(events::subject_type.eq(subject_type))
        .filter(events::subject_id.eq(subject_id))
        .order((events::created_at.asc(), events::id.asc()))
        .select(Event::as_select())
        .load(conn)
}
