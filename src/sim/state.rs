//! The simulator's in-memory marketplace: authorization codes, orders, pending faults, and the
//! records of every call, upload and usage report (their types are in `records.rs`).
//!
//! Everything sits behind one `std::sync::Mutex` that is never held across an `.await`, so a
//! plain lock is enough; a poisoned lock is recovered rather than unwrapped, because the
//! simulator must never panic, whatever it is sent.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::orders::{Order, mock_orders};
use super::records::{Call, Upload, UsageReport};
use crate::domain::times;

/// How many calls, uploads and usage reports are kept; older ones are dropped so a simulator
/// left running for weeks of dial tests does not grow without bound.
pub const MAX_RECORDS: usize = 10_000;

/// The open APIs the simulator plays, as named in `/sim/calls` and `/sim/faults`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// `POST …/v1/license/activate`
    Activate,
    /// `POST …/v1/license/heartbeat`
    Heartbeat,
    /// `POST …/v2/license/software-usage-info`
    Usage,
    /// `GET …/v1/order/query`
    Order,
    /// `POST …/v1/market-event/{event_id}/file`
    Upload,
    /// Any other path: answered 404 like an unpublished gateway API.
    Unknown,
}

/// The status of an authorization code as the query API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CodeStatus {
    /// In use.
    Alive,
    /// Past its expiry.
    Expired,
    /// Released after expiry or unsubscription.
    Released,
}

/// An authorization code. Times are UTC `yyyyMMddHHmmss`, as on the wire.
#[derive(Debug, Clone, Serialize)]
pub struct Code {
    /// The code itself.
    pub code: String,
    /// Current status.
    pub status: CodeStatus,
    /// Whether the buyer has claimed it (activation before that fails with `92020004`).
    pub claimed: bool,
    /// Expiry.
    pub expire_time: String,
    /// Product.
    pub product_id: String,
    /// Purchase order.
    pub order_id: String,
    /// Quantity (machines).
    pub amount: u64,
    /// Whether it has been activated.
    pub activated: bool,
    /// When it was activated.
    pub activate_time: Option<String>,
    /// The `real_effect_time` sent with the activation, if any.
    pub real_effect_time: Option<String>,
    /// Successful activate calls (more than 1 is impossible; kept for symmetry).
    pub activations: u64,
    /// Successful heartbeat (query) calls.
    pub heartbeats: u64,
}

/// What an injected fault does to the call it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer HTTP 500 with the API's internal-error code.
    Http500,
    /// Wait `delay_ms`, then answer normally.
    DelayMs,
    /// Abort the connection without a complete response.
    Close,
    /// Answer `error_code` (HTTP `http_status`, default 200).
    ErrorCode,
}

/// A pending fault: the next `remaining` calls to `api` (or any API for `"*"`) fail.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    /// Id, in creation order.
    pub id: u64,
    /// An API name or `"*"`.
    pub api: String,
    /// What happens.
    pub kind: FaultKind,
    /// Calls still to hit.
    pub remaining: u32,
    /// For `delay_ms`.
    pub delay_ms: u64,
    /// For `error_code`.
    pub error_code: Option<String>,
    /// For `error_code`: the HTTP status to answer with.
    pub http_status: u16,
}

/// Everything the simulator remembers.
#[derive(Debug)]
pub struct SimState {
    /// Codes by code.
    pub codes: BTreeMap<String, Code>,
    /// Orders by id (the built-in mock orders included).
    pub orders: BTreeMap<String, Order>,
    /// Pending faults, oldest first.
    pub faults: Vec<Fault>,
    /// Id of the next fault.
    pub next_fault_id: u64,
    /// Calls, oldest first.
    pub calls: VecDeque<Call>,
    /// Accepted uploads, oldest first.
    pub uploads: VecDeque<Upload>,
    /// Accepted uploads per `event_id` (not trimmed with `uploads`).
    pub deliveries: HashMap<String, u64>,
    /// Usage entries, oldest first.
    pub usage: VecDeque<UsageReport>,
}

impl SimState {
    /// A fresh marketplace holding only the built-in mock orders.
    pub fn new() -> Self {
        let now = Utc::now().naive_utc();
        Self {
            codes: BTreeMap::new(),
            orders: mock_orders(now)
                .into_iter()
                .map(|o| (o.order_id.clone(), o))
                .collect(),
            faults: Vec::new(),
            next_fault_id: 1,
            calls: VecDeque::new(),
            uploads: VecDeque::new(),
            deliveries: HashMap::new(),
            usage: VecDeque::new(),
        }
    }

    /// Takes one hit from the oldest pending fault that matches `api`.
    pub fn take_fault(&mut self, api: Api) -> Option<Fault> {
        let name = api_name(api);
        let index = self
            .faults
            .iter()
            .position(|f| f.remaining > 0 && (f.api == "*" || f.api == name))?;
        let fault = self.faults.get_mut(index)?;
        fault.remaining -= 1;
        let hit = fault.clone();
        if fault.remaining == 0 {
            self.faults.remove(index);
        }
        Some(hit)
    }

    /// Records an accepted upload and returns its delivery number for the event.
    pub fn record_upload(&mut self, mut upload: Upload) -> u64 {
        let count = self.deliveries.entry(upload.event_id.clone()).or_insert(0);
        *count += 1;
        upload.delivery = *count;
        push_capped(&mut self.uploads, upload);
        *count
    }
}

impl Default for SimState {
    fn default() -> Self {
        Self::new()
    }
}

/// The shared simulator: credentials (fixed at start) and the state.
#[derive(Debug)]
pub struct Sim {
    credentials: HashMap<String, String>,
    state: Mutex<SimState>,
}

impl Sim {
    /// A simulator accepting these AK/SK pairs.
    pub fn new(credentials: Vec<(String, String)>) -> Self {
        Self {
            credentials: credentials.into_iter().collect(),
            state: Mutex::new(SimState::new()),
        }
    }

    /// The SK of an AK, for `apig::verify`.
    pub fn sk_for(&self, ak: &str) -> Option<String> {
        self.credentials.get(ak).cloned()
    }

    /// Locks the state. A panic elsewhere while holding the lock cannot leave it half-updated
    /// in a way that matters to a test double, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The wire name of an API, as used in `/sim/faults` and `/sim/calls?api=`.
pub fn api_name(api: Api) -> &'static str {
    match api {
        Api::Activate => "activate",
        Api::Heartbeat => "heartbeat",
        Api::Usage => "usage",
        Api::Order => "order",
        Api::Upload => "upload",
        Api::Unknown => "unknown",
    }
}

/// Appends, dropping the oldest entry beyond [`MAX_RECORDS`].
pub fn push_capped<T>(queue: &mut VecDeque<T>, item: T) {
    if queue.len() >= MAX_RECORDS {
        queue.pop_front();
    }
    queue.push_back(item);
}

/// The current time as RFC 3339 UTC, for records.
pub fn now_rfc3339() -> String {
    times::rfc3339(Utc::now().naive_utc())
}

/// The current time as `yyyyMMddHHmmss`.
pub fn now_compact() -> String {
    times::format_compact(Utc::now().naive_utc())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn fault(api: &str, remaining: u32) -> Fault {
        Fault {
            id: 0,
            api: api.to_owned(),
            kind: FaultKind::Http500,
            remaining,
            delay_ms: 0,
            error_code: None,
            http_status: 500,
        }
    }

    #[test]
    fn faults_hit_matching_calls_n_times_oldest_first() {
        let mut state = SimState::new();
        state.faults.push(fault("heartbeat", 2));
        state.faults.push(fault("*", 1));
        assert!(state.take_fault(Api::Activate).unwrap().api == "*");
        assert!(state.take_fault(Api::Activate).is_none());
        assert_eq!(state.take_fault(Api::Heartbeat).unwrap().remaining, 1);
        assert_eq!(state.take_fault(Api::Heartbeat).unwrap().remaining, 0);
        assert!(state.take_fault(Api::Heartbeat).is_none());
        assert!(state.faults.is_empty());
    }

    #[test]
    fn records_are_capped() {
        let mut queue = VecDeque::new();
        for i in 0..=MAX_RECORDS {
            push_capped(&mut queue, i);
        }
        assert_eq!(queue.len(), MAX_RECORDS);
        assert_eq!(queue.front(), Some(&1));
    }
}
