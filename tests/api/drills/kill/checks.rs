//! What the kill drill checks after each restart.

use std::collections::HashMap;

use diesel::prelude::*;
use futures_util::future::join_all;
use koolicense::db::models::jobs;
use koolicense::db::schema::{activations, auth_codes, licenses};

use super::super::{deliveries, try_activate, try_callback, wait_drained};
use super::{Answered, Tally};
use crate::helpers::TestDatabase;
use crate::marketplace::Marketplace;
use crate::uploads::license_async;

/// The upload jobs by `eventId` with their status, and the simulator's deliveries by `eventId`.
pub type Snapshot = (
    HashMap<String, jobs::JobStatus>,
    HashMap<String, Vec<String>>,
);

/// The stored license of a `getLicenseAsync` event.
fn stored_license(db: &TestDatabase, event: &str) -> String {
    licenses::table
        .filter(licenses::event_id.eq(event))
        .select(licenses::file)
        .first(&mut db.connect())
        .unwrap()
}

/// Once the restarted worker has drained the queue: an upload done at the kill was not sent
/// again, any other was sent exactly once more; every answered event was queued; every delivery
/// carries the stored license.
pub async fn check_uploads(
    db: &TestDatabase,
    sim: &Marketplace,
    (jobs_at_kill, delivered_at_kill): &Snapshot,
    answered: &Answered,
    tally: &mut Tally,
) {
    wait_drained(db).await;
    let delivered = deliveries(sim).await;
    for event in answered.events.keys() {
        assert!(
            jobs_at_kill.contains_key(event),
            "{event} was answered but no upload was queued"
        );
    }
    for (event, status) in jobs_at_kill {
        let before = delivered_at_kill.get(event).map_or(0, Vec::len);
        let after = delivered.get(event).map_or(0, Vec::len);
        let expected = before + usize::from(*status != jobs::JobStatus::Done);
        assert_eq!(
            after, expected,
            "{event}: {before} deliveries at the kill with its upload {status}, {after} after the restart"
        );
        assert!(after > 0, "{event}: queued, never delivered");
        if *status != jobs::JobStatus::Done && before > 0 {
            tally.delivered_again_after_cut += 1;
        }
        let license = stored_license(db, event);
        for content in delivered.get(event).into_iter().flatten() {
            assert_eq!(content, &license, "{event}: an upload carried other bytes");
        }
    }
    tally.uploads_delivered = delivered.values().map(Vec::len).sum();
}

/// Every license answered so far is answered again: an activation repeat gets the same bytes;
/// a `getLicenseAsync` repeat is accepted and re-uploads the same bytes, exactly once more.
pub async fn check_repeats(
    http: &reqwest::Client,
    url: &str,
    db: &TestDatabase,
    sim: &Marketplace,
    answered: &Answered,
    tally: &mut Tally,
) {
    let activations = join_all(
        answered
            .licenses
            .iter()
            .map(|((code, fp), license)| async move {
                let again = try_activate(http, url, code, fp).await;
                assert_eq!(
                    again,
                    Some((200, license.clone())),
                    "{code} {fp}: not answered the same"
                );
            }),
    );
    activations.await;
    let before = deliveries(sim).await;
    let calls = join_all(
        answered
            .events
            .iter()
            .map(|(event, (instance, fp))| async move {
                let again = try_callback(http, url, &license_async(instance, event, fp)).await;
                assert_eq!(again.unwrap()["resultCode"], "000000", "{event}");
            }),
    );
    calls.await;
    wait_drained(db).await;
    let after = deliveries(sim).await;
    for event in answered.events.keys() {
        let (first, now) = (&before[event], &after[event]);
        assert_eq!(now.len(), first.len() + 1, "{event}: the repeat's upload");
        assert_eq!(
            now.last(),
            first.first(),
            "{event}: the repeat uploaded other bytes"
        );
    }
    tally.repeats += answered.licenses.len() + answered.events.len();
}

/// No code has more live bindings than `seats`, no instance more devices than `quota`, and
/// every binding has exactly one license.
pub fn check_seats(db: &TestDatabase, seats: i64, quota: i64) {
    let mut conn = db.connect();
    let live: Vec<(String, i64)> = activations::table
        .inner_join(auth_codes::table)
        .filter(activations::deactivated_at.is_null())
        .group_by(auth_codes::code)
        .select((auth_codes::code, diesel::dsl::count_star()))
        .load(&mut conn)
        .unwrap();
    for (code, n) in &live {
        assert!(
            *n <= seats,
            "{code} has {n} live bindings for {seats} seats"
        );
    }
    let devices: Vec<(Option<String>, i64)> = licenses::table
        .filter(licenses::instance_id.is_not_null())
        .group_by(licenses::instance_id)
        .select((
            licenses::instance_id,
            diesel::dsl::count_distinct(licenses::fingerprint_sha256),
        ))
        .load(&mut conn)
        .unwrap();
    for (instance, n) in &devices {
        assert!(
            *n <= quota,
            "{instance:?} has licenses for {n} devices, quota {quota}"
        );
    }
    let bindings: i64 = activations::table.count().get_result(&mut conn).unwrap();
    let issued: i64 = licenses::table
        .filter(licenses::code_id.is_not_null())
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(bindings, issued, "every binding has exactly one license");
}
