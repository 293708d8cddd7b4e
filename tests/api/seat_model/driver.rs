//! Plays a case against the real server and simulator, step by step, comparing each answer with
//! the model's.

use std::cell::{Cell, RefCell};

use chrono::{NaiveDateTime, TimeDelta, Utc};
use koolicense::admin::auth::Role;
use koolicense::domain::times::{format_compact, parse_compact, rfc3339};
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

use super::model::{Code, Lifecycle, Market, Refusal};
use super::{Case, Op};
use crate::client_api::{Client, start_with};
use crate::helpers::Backend;

/// Fails the case (proptest then shrinks it) instead of panicking.
macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(proptest::test_runner::TestCaseError::fail(format!($($message)+)));
        }
    };
}
pub(super) use ensure;

pub(super) type Checked = Result<(), TestCaseError>;

/// A server, its simulator and an admin token, shared by the cases of one run; every case
/// makes codes of its own.
pub struct World {
    pub(super) client: Client,
    pub(super) admin: String,
    cases_run: Cell<usize>,
    /// One connection for counting bindings after every step.
    db: RefCell<koolicense::db::DbConn>,
}

pub(super) fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

/// A compact time, as the marketplace sends it, and the whole-second time it means.
pub(super) fn compact_after(days: i64) -> (String, NaiveDateTime) {
    let text = format_compact(now() + TimeDelta::days(days));
    let time = parse_compact(&text).expect("a compact time parses");
    (text, time)
}

pub(super) fn time_json(time: Option<NaiveDateTime>) -> Value {
    time.map_or(Value::Null, |t| Value::String(rfc3339(t)))
}

/// A client-API or admin answer was a refusal: its status and the body's `code`.
pub(super) fn refused(status: u16, body: &Value, expected: Refusal, what: &str) -> Checked {
    let got = (status, body["code"].as_str().unwrap_or(""));
    ensure!(
        got == expected,
        "{what}: expected {expected:?}, got {status} {}",
        brief(body)
    );
    Ok(())
}

/// An answer for a failure message, with its license file (long, and no help) elided.
pub(super) fn brief(body: &Value) -> Value {
    let mut shown = body.clone();
    if let Some(file) = shown.get_mut("license").filter(|f| f.is_string()) {
        *file = Value::String("<license file>".to_owned());
    }
    shown
}

impl World {
    pub async fn start(backend: Backend) -> Self {
        // No per-IP limits: a run sends hundreds of requests, many for codes nobody knows.
        let mut client = start_with(
            backend,
            &[
                ("KOOLICENSE_RATE_LIMIT_PER_MINUTE", "0"),
                ("KOOLICENSE_UNKNOWN_CODE_LIMIT_PER_HOUR", "0"),
            ],
        )
        .await;
        // No kept-alive connections: between cases nothing polls them, so a server may close one
        // unseen and the next case's first request would fail on it.
        let unpooled = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("an HTTP client");
        client.app.client = unpooled.clone();
        client.sim.client = unpooled;
        let admin = client.app.token("seat-model", Role::Admin);
        let db = RefCell::new(client.app.db());
        Self {
            client,
            admin,
            cases_run: Cell::new(0),
            db,
        }
    }

    /// Plays `case` on fresh codes and compares every answer, then the final state.
    pub async fn check(&self, case: &Case) -> Checked {
        let run = self.cases_run.get();
        self.cases_run.set(run + 1);
        let mut codes = Vec::new();
        for (i, (market, seats)) in case.codes.iter().enumerate() {
            codes.push(
                self.new_code(format!("PLMODEL{run:05}C{i}"), *market, *seats)
                    .await,
            );
        }
        for (step, op) in case.ops.iter().enumerate() {
            self.step(&mut codes, op, step)
                .await
                .map_err(|e| TestCaseError::fail(format!("step {step} {op:?}: {e}")))?;
            for code in &codes {
                let live = self.live(&code.name);
                ensure!(
                    live <= code.seats,
                    "{} has {live} live bindings for {} seats",
                    code.name,
                    code.seats
                );
                ensure!(
                    live == code.live.len() as i64,
                    "{}: {live} live bindings, model {}",
                    code.name,
                    code.live.len()
                );
            }
        }
        for code in &codes {
            self.compare_state(code).await?;
        }
        Ok(())
    }

    /// Live bindings of a code, as stored.
    fn live(&self, code: &str) -> i64 {
        use diesel::prelude::*;
        use koolicense::db::schema::{activations, auth_codes};
        activations::table
            .inner_join(auth_codes::table)
            .filter(auth_codes::code.eq(code))
            .filter(activations::deactivated_at.is_null())
            .count()
            .get_result(&mut *self.db.borrow_mut())
            .expect("bindings can be counted")
    }

    async fn new_code(&self, name: String, market: Market, seats: i64) -> Code {
        let (sent, expiry) = compact_after(365);
        if market != Market::Absent {
            let body = json!({"code": name, "amount": seats, "expire_time": sent,
                "claimed": market == Market::Listed, "order_id": "CS-MODEL",
                "product_id": "OFFI-MODEL"});
            self.client.sim_post("/sim/codes", &body).await;
        }
        Code::new(name, market, seats, expiry)
    }

    async fn step(&self, codes: &mut [Code], op: &Op, step: usize) -> Checked {
        match *op {
            Op::Activate { code, machine } => self.activate(&mut codes[code], machine).await,
            Op::CheckIn { code, machine } => self.check_in(&mut codes[code], machine).await,
            Op::Deactivate { code, machine } => self.deactivate(&mut codes[code], machine).await,
            Op::Reset { code, machine } => self.reset(&mut codes[code], machine).await,
            Op::Freeze { code, freeze } => {
                let code = &mut codes[code];
                let status = if freeze { "FREEZE" } else { "UNFREEZE" };
                let body = json!({"activity": "updateLicenseCodeStatus", "license": code.name,
                    "status": status});
                self.callback(body).await?;
                code.known = true;
                code.frozen = freeze;
                Ok(())
            }
            Op::Renew { code, days } => self.renew(&mut codes[code], days, step).await,
            Op::Release { code } => {
                let code = &mut codes[code];
                self.callback(json!({"activity": "releaseLicenseCode", "license": code.name}))
                    .await?;
                self.market_update(code, json!({"status": "RELEASED"}))
                    .await;
                code.known = true;
                code.status = Lifecycle::Released;
                Ok(())
            }
            Op::Revoke {
                code,
                machine,
                revoke,
            } => self.revoke(&mut codes[code], machine, revoke).await,
            Op::Claim { code } => {
                let code = &mut codes[code];
                if code.market == Market::Unclaimed {
                    self.market_update(code, json!({"claimed": true})).await;
                    code.market = Market::Listed;
                }
                Ok(())
            }
        }
    }

    /// A License-2.0 callback signed as KooGallery signs it, which must succeed.
    async fn callback(&self, body: Value) -> Checked {
        let answer = self.client.app.callback(&body).await;
        ensure!(
            answer.code() == "000000",
            "callback {body} answered {}",
            answer.body
        );
        Ok(())
    }

    /// The marketplace's own record of the code changes too (KooGallery is the source of truth).
    async fn market_update(&self, code: &Code, patch: Value) {
        if code.market != Market::Absent {
            self.client
                .sim_post(&format!("/sim/codes/{}", code.name), &patch)
                .await;
        }
    }

    async fn renew(&self, code: &mut Code, days: i64, step: usize) -> Checked {
        let (sent, expiry) = compact_after(days);
        let scene = if days < 0 {
            "UNSUBSCRIBE_RENEWAL_PERIOD"
        } else {
            "RENEWAL"
        };
        let order = format!("CS-{}-{step}", code.name);
        self.callback(
            json!({"activity": "refreshLicenseCode", "scene": scene, "orderId": order,
            "orderLineId": format!("{order}-1"), "license": code.name, "expireTime": sent}),
        )
        .await?;
        code.renew(expiry, now());
        let mut patch = json!({"expire_time": sent});
        if code.status != Lifecycle::Released {
            patch["status"] = code.status.wire().into();
        }
        self.market_update(code, patch).await;
        Ok(())
    }
}

pub(super) fn seats(body: &Value, (used, total): (i64, i64)) -> Checked {
    ensure!(
        body["seats"] == json!({"used": used, "total": total}),
        "expected seats {used}/{total}: {body}"
    );
    Ok(())
}

pub(super) fn parse_rfc3339(text: &str) -> Option<NaiveDateTime> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.naive_utc())
}

pub(super) fn payload_time(payload: &Value, field: &str) -> Result<NaiveDateTime, TestCaseError> {
    let time = payload[field].as_str().and_then(parse_rfc3339);
    time.ok_or_else(|| TestCaseError::fail(format!("{field} of {payload}")))
}
