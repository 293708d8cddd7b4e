//! The one field parser of both production interfaces: a callback's JSON object
//! (`POST /koogallery/license`) and the legacy query parameters (`GET /koogallery/license`).
//! One set of rules for both: a value is trimmed and an empty one is missing; the value as sent
//! may hold at most `max` characters and no control characters; times, FREEZE/UNFREEZE and
//! numbers are read the same way. Only the JSON object can hold a non-string ("must be a
//! string").

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use crate::domain::times;

/// A field that is missing or malformed; answered `000002` naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadField {
    /// The field's name as KooGallery spells it.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for BadField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid parameter {}: {}", self.field, self.reason)
    }
}

/// A [`BadField`] of `field`.
pub fn bad(field: &'static str, reason: impl Into<String>) -> BadField {
    BadField {
        field,
        reason: reason.into(),
    }
}

/// The fields of one call.
#[derive(Debug, Clone, Copy)]
pub enum Fields<'a> {
    /// A callback body.
    Json(&'a Map<String, Value>),
    /// Legacy query parameters; the first of a repeated name counts.
    Query(&'a [(String, String)]),
}

impl<'a> Fields<'a> {
    /// The value as sent, before any rule; `Err` for a JSON value that is not a string.
    fn sent(&self, name: &'static str) -> Result<Option<&'a str>, BadField> {
        match *self {
            Self::Json(map) => match map.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(bad(name, "must be a string")),
            },
            Self::Query(params) => Ok(params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())),
        }
    }

    /// The trimmed value, unchecked, `None` when missing or empty: for journal keys and labels,
    /// which are shortened where they are stored, never for what a call does.
    pub fn peek(&self, name: &'static str) -> Option<&'a str> {
        self.sent(name)
            .ok()
            .flatten()
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// The trimmed value, or `None` when missing or empty.
    pub fn optional(&self, name: &'static str, max: usize) -> Result<Option<String>, BadField> {
        let Some(sent) = self.sent(name)? else {
            return Ok(None);
        };
        if sent.trim().is_empty() {
            return Ok(None);
        }
        if sent.chars().count() > max {
            return Err(bad(name, self.longer_than(max)));
        }
        if sent.chars().any(char::is_control) {
            return Err(bad(name, "contains control characters"));
        }
        Ok(Some(sent.trim().to_owned()))
    }

    /// The trimmed value, which must be there.
    pub fn required(&self, name: &'static str, max: usize) -> Result<String, BadField> {
        self.optional(name, max)?
            .ok_or_else(|| bad(name, "missing"))
    }

    /// What a too long value is told; the words differ as each interface has always answered.
    fn longer_than(&self, max: usize) -> String {
        match self {
            Self::Json(_) => format!("longer than {max} characters"),
            Self::Query(_) => format!("longer than {max}"),
        }
    }

    /// A compact time (`yyyyMMddHHmmss[SSS]`), if present.
    pub fn optional_compact_time(
        &self,
        name: &'static str,
    ) -> Result<Option<NaiveDateTime>, BadField> {
        self.optional(name, 20)?
            .map(|raw| times::parse_compact(&raw).map_err(|e| bad(name, e.to_string())))
            .transpose()
    }

    /// A compact time that must be there.
    pub fn compact_time(&self, name: &'static str) -> Result<NaiveDateTime, BadField> {
        self.optional_compact_time(name)?
            .ok_or_else(|| bad(name, "missing"))
    }

    /// A License time (`getLicenseAsync`'s formats), if present.
    pub fn license_time(&self, name: &'static str) -> Result<Option<NaiveDateTime>, BadField> {
        self.optional(name, 32)?
            .map(|raw| times::parse_license_time(&raw).map_err(|e| bad(name, e.to_string())))
            .transpose()
    }

    /// `status`: `FREEZE` (true) or `UNFREEZE` (false).
    pub fn freeze(&self) -> Result<bool, BadField> {
        match self.required("status", 32)?.as_str() {
            "FREEZE" => Ok(true),
            "UNFREEZE" => Ok(false),
            _ => Err(bad("status", "must be FREEZE or UNFREEZE")),
        }
    }

    /// A positive whole number, if present.
    pub fn optional_positive(
        &self,
        name: &'static str,
        max: usize,
    ) -> Result<Option<i64>, BadField> {
        self.optional(name, max)?
            .map(|raw| {
                raw.parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad(name, "not a positive number"))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests;
