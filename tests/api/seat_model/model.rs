//! The model of seats the server is checked against: per code its seats, the machines bound to
//! it, its status, and the licenses support revoked; and, for each step, the answer api.md §4
//! and §6 promise.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

/// Client deactivations a code may have in 30 days (`KOOLICENSE_DEACTIVATION_LIMIT`'s default).
pub const DEACTIVATION_LIMIT: i64 = 3;

/// How the simulated marketplace knows a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Market {
    /// Claimed by the buyer: it activates.
    Listed,
    /// Not claimed yet: activation answers `92020004`.
    Unclaimed,
    /// Not a code of the marketplace at all: `92020005`.
    Absent,
}

/// KooGallery's lifecycle status of a code, as both the server and the simulator hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Alive,
    Expired,
    Released,
}

impl Lifecycle {
    pub fn wire(self) -> &'static str {
        match self {
            Self::Alive => "ALIVE",
            Self::Expired => "EXPIRED",
            Self::Released => "RELEASED",
        }
    }
}

/// A live binding of a machine and the license it holds.
#[derive(Debug, Clone)]
pub struct Binding {
    pub license_id: String,
    /// The license file the server last handed out for this binding.
    pub file: String,
    /// The expiry that file carries.
    pub expires_at: Option<NaiveDateTime>,
    pub not_before: NaiveDateTime,
}

/// What the server promises to know about a license.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LicenseState {
    pub revoked: bool,
    pub revision: i64,
}

/// One authorization code.
#[derive(Debug, Clone)]
pub struct Code {
    pub name: String,
    pub market: Market,
    /// The code's `amount` on the marketplace: machines it may bind.
    pub seats: i64,
    /// The expiry the marketplace reports (renewals change it there too).
    pub market_expiry: NaiveDateTime,
    /// The server has a row for the code (a callback or an activation made it).
    pub known: bool,
    /// Activated with the marketplace through the server.
    pub activated: bool,
    pub status: Lifecycle,
    pub frozen: bool,
    /// The expiry the server holds.
    pub expiry: Option<NaiveDateTime>,
    /// Machine number → its live binding.
    pub live: BTreeMap<usize, Binding>,
    /// Machine number → its latest license, live binding or not.
    pub latest_license: BTreeMap<usize, String>,
    pub licenses: BTreeMap<String, LicenseState>,
    /// Bindings ever made (live or freed).
    pub bindings_made: usize,
    pub client_deactivations: i64,
}

/// An expected client-API or admin error: HTTP status and `code`.
pub type Refusal = (u16, &'static str);

impl Code {
    pub fn new(name: String, market: Market, seats: i64, market_expiry: NaiveDateTime) -> Self {
        Self {
            name,
            market,
            seats,
            market_expiry,
            known: false,
            activated: false,
            status: Lifecycle::Alive,
            frozen: false,
            expiry: None,
            live: BTreeMap::new(),
            latest_license: BTreeMap::new(),
            licenses: BTreeMap::new(),
            bindings_made: 0,
            client_deactivations: 0,
        }
    }

    fn revoked(&self, machine: usize) -> bool {
        self.live
            .get(&machine)
            .is_some_and(|b| self.licenses[&b.license_id].revoked)
    }

    fn expired(&self, now: NaiveDateTime) -> bool {
        self.status == Lifecycle::Expired || self.expiry.is_some_and(|end| now > end)
    }

    /// Why a (new or repeated) binding of `machine` is refused, in api.md's order.
    pub fn refusal(&self, machine: Option<usize>, now: NaiveDateTime) -> Option<Refusal> {
        if self.status == Lifecycle::Released {
            return Some((403, "LICENSE_RELEASED"));
        }
        if machine.is_some_and(|m| self.revoked(m)) {
            return Some((403, "LICENSE_REVOKED"));
        }
        if self.frozen {
            return Some((403, "LICENSE_FROZEN"));
        }
        if self.expired(now) {
            return Some((403, "LICENSE_EXPIRED"));
        }
        None
    }

    /// What `POST /v1/activate` answers, before its effect is applied ([`Code::bind`]).
    pub fn activation(&self, machine: usize, now: NaiveDateTime) -> Activation {
        if !self.activated {
            if let Some(refused) = self.known.then(|| self.refusal(None, now)).flatten() {
                return Activation::Refused(refused);
            }
            match self.market {
                Market::Absent => return Activation::Refused((404, "CODE_NOT_FOUND")),
                Market::Unclaimed => return Activation::Refused((409, "CODE_NOT_CLAIMED")),
                Market::Listed => {}
            }
        }
        if self.live.contains_key(&machine) {
            return match self.refusal(Some(machine), now) {
                Some(refused) => Activation::Refused(refused),
                None => Activation::Repeat,
            };
        }
        // A first activation records what the marketplace reports: the same state as ours.
        if let Some(refused) = self.refusal(None, now) {
            return Activation::Refused(refused);
        }
        if self.live.len() as i64 >= self.seats {
            return Activation::Refused((409, "SEAT_LIMIT_REACHED"));
        }
        Activation::New
    }

    /// The effect of an activation the marketplace answered (a first one records the code).
    pub fn marketplace_activated(&mut self) {
        if !self.activated && self.market == Market::Listed {
            self.known = true;
            self.activated = true;
            self.expiry = Some(self.market_expiry);
        }
    }

    /// A new binding and its license.
    pub fn bind(&mut self, machine: usize, binding: Binding) {
        let state = LicenseState {
            revoked: false,
            revision: 1,
        };
        self.licenses.insert(binding.license_id.clone(), state);
        self.latest_license
            .insert(machine, binding.license_id.clone());
        self.live.insert(machine, binding);
        self.bindings_made += 1;
    }

    /// What `POST /v1/check-in` answers, and whether it carries the license's next revision.
    pub fn check_in(&self, machine: usize, now: NaiveDateTime) -> CheckIn {
        let expires_at = if self.known { self.expiry } else { None };
        let verdict = |status: &'static str| CheckIn {
            status,
            expires_at,
            renews: false,
        };
        if !self.activated {
            return verdict("NOT_ACTIVATED");
        }
        if self.status == Lifecycle::Released {
            return verdict("RELEASED");
        }
        let Some(binding) = self.live.get(&machine) else {
            return verdict(if self.live.is_empty() {
                "NOT_ACTIVATED"
            } else {
                "FINGERPRINT_MISMATCH"
            });
        };
        let status = if self.revoked(machine) {
            "REVOKED"
        } else if self.frozen {
            "FROZEN"
        } else if self.expired(now) {
            "EXPIRED"
        } else {
            "VALID"
        };
        // A license follows its code's expiry, unless that ends before the license began.
        let stale = binding.expires_at != self.expiry
            && self.expiry.is_none_or(|end| end >= binding.not_before);
        CheckIn {
            status,
            expires_at,
            renews: stale && status != "REVOKED",
        }
    }

    /// What `POST /v1/deactivate` answers: freed seats `(used, total)` or a refusal.
    pub fn deactivation(&self, machine: usize) -> Result<(i64, i64), Refusal> {
        if !self.known || !self.live.contains_key(&machine) {
            return Err((404, "ACTIVATION_NOT_FOUND"));
        }
        if self.client_deactivations >= DEACTIVATION_LIMIT {
            return Err((429, "DEACTIVATION_LIMIT_REACHED"));
        }
        Ok((self.live.len() as i64 - 1, self.seats))
    }

    /// What `DELETE /admin/v1/activations/{id}` answers for the machine's latest binding.
    pub fn reset(&self, machine: usize) -> Result<(i64, i64), Refusal> {
        if self.live.contains_key(&machine) {
            Ok((self.live.len() as i64 - 1, self.seats))
        } else if self.latest_license.contains_key(&machine) {
            Err((409, "CONFLICT"))
        } else {
            Err((404, "NOT_FOUND"))
        }
    }

    /// What revoking (`revoke`) or reinstating the machine's latest license answers; `None`
    /// when the machine never had one (there is nothing to name).
    pub fn set_revoked(&self, machine: usize, revoke: bool) -> Option<Result<(), Refusal>> {
        let id = self.latest_license.get(&machine)?;
        Some(if self.licenses[id].revoked == revoke {
            Err((409, "CONFLICT"))
        } else {
            Ok(())
        })
    }

    /// `refreshLicenseCode` with a new expiry (as the marketplace also records it).
    pub fn renew(&mut self, expiry: NaiveDateTime, now: NaiveDateTime) {
        self.known = true;
        self.expiry = Some(expiry);
        self.market_expiry = expiry;
        if self.status != Lifecycle::Released {
            self.status = if expiry <= now {
                Lifecycle::Expired
            } else {
                Lifecycle::Alive
            };
        }
    }
}

/// The answer an activation should get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `201`: a new binding.
    New,
    /// `200`: the stored license, byte for byte.
    Repeat,
    Refused(Refusal),
}

/// The answer a check-in should get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckIn {
    pub status: &'static str,
    pub expires_at: Option<NaiveDateTime>,
    /// It carries the license's next revision with the code's current expiry.
    pub renews: bool,
}
