//! The seat rule, in one place: how many machines a code allows (from what KooGallery reported),
//! whether a code may take another binding, and how many devices an online-License instance may
//! license.
//!
//! Counting what is in use is storage's business: live bindings of a code are
//! [`activations::count_live`], licensed devices of an instance
//! [`crate::db::models::licenses::count_devices`].

use diesel::QueryResult;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbConn;
use crate::db::models::activations;
use crate::db::models::auth_codes::AuthCode;

/// The seats of a code KooGallery reported no `amount` for (api.md §4, `POST /v1/activate`:
/// "1 when absent").
pub const DEFAULT_SEATS: i64 = 1;

/// The number of machines a code allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatLimit(i64);

impl SeatLimit {
    /// The limit KooGallery's `amount` gives: at least one seat, so a zero or negative amount
    /// still lets the code bind one machine, as an absent one does.
    pub fn from_reported(amount: i64) -> Self {
        Self(amount.max(1))
    }

    /// The limit an activation's answer gives: "1 when absent" (api.md §4).
    pub fn from_activation(amount: Option<i64>) -> Self {
        Self::from_reported(amount.unwrap_or(DEFAULT_SEATS))
    }

    /// The limit when KooGallery has not said: [`DEFAULT_SEATS`].
    pub fn or_default(limit: Option<Self>) -> i64 {
        limit.map_or(DEFAULT_SEATS, Self::get)
    }

    /// Machines allowed.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// Seats of a code: bound machines and machines allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Seats {
    /// Machines bound now.
    pub used: i64,
    /// Machines the code allows (KooGallery's `amount`).
    pub total: i64,
}

/// Every seat of a code is taken: the refusal of a new binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllSeatsTaken {
    /// Machines the code allows.
    pub total: i64,
}

/// A full code refuses a new binding (`409 SEAT_LIMIT_REACHED`).
impl From<AllSeatsTaken> for super::Error {
    fn from(full: AllSeatsTaken) -> Self {
        Self::SeatLimitReached { total: full.total }
    }
}

impl Seats {
    /// The code's seats with `used` live bindings.
    pub fn of_code(code: &AuthCode, used: i64) -> Self {
        Self {
            used,
            total: code.seats,
        }
    }

    /// The seats once one more machine is bound, or the refusal when none is free.
    pub fn take_one(self) -> Result<Self, AllSeatsTaken> {
        if self.used >= self.total {
            return Err(AllSeatsTaken { total: self.total });
        }
        Ok(Self {
            used: self.used + 1,
            ..self
        })
    }
}

/// The code's seats as stored now. Inside a transaction that holds the code's lock the count is
/// exact (see `service::binding`).
pub fn of_code(conn: &mut DbConn, code: &AuthCode) -> QueryResult<Seats> {
    Ok(Seats::of_code(
        code,
        activations::count_live(conn, &code.id)?,
    ))
}

/// How many devices an online-License instance may license: its order's quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceQuota(i64);

impl DeviceQuota {
    /// The quota of an order of `quantity` devices; `None` while the order is unknown, since a
    /// quota is never guessed.
    pub fn of_order(quantity: Option<i64>) -> Option<Self> {
        quantity.map(Self)
    }

    /// Devices the order allows.
    pub fn devices(self) -> i64 {
        self.0
    }

    /// May a device get a license, with `licensed` distinct devices holding one already: a
    /// device that holds one always may (a new event for it takes no more of the quota), a new
    /// device while the quota is not used up.
    pub fn admits(self, licensed: i64, device_holds_one: bool) -> bool {
        device_holds_one || licensed < self.0
    }
}

#[cfg(test)]
mod tests;
