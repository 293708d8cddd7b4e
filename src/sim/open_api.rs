//! The marketplace's JSON open APIs behind the gateway: activate, query (heartbeat), usage
//! statistics (koogallery.md §3.2). The order query lives in `orders.rs`, the file upload in
//! `upload.rs` because it is multipart.
//!
//! Codes and HTTP statuses follow the current error table (§3.2.4): business outcomes are
//! HTTP 200 with an `error_code`, malformed requests HTTP 400 with `95000001`/`95000004`.

use actix_web::http::StatusCode;
use serde_json::{Map, Value, json};

use super::gateway::Reply;
use super::records::UsageReport;
use super::state::{Sim, now_compact, now_rfc3339, push_capped};
use crate::domain::times;

/// Longest authorization code the APIs accept (documented length 64).
const MAX_CODE_LEN: usize = 64;
/// Most codes per usage report, and most entries per code.
const MAX_USAGE_ENTRIES: usize = 100;
/// Largest `active_num` (documented as at most 9 digits).
const MAX_ACTIVE_NUM: u64 = 999_999_999;

/// `92020000` with `data`.
fn success(data: Value) -> Reply {
    Reply::new(
        StatusCode::OK,
        json!({"error_code": "92020000", "error_msg": "success", "data": data}),
    )
}

/// A business failure: HTTP 200 with a code and the documented message.
fn business(code: &str, msg: &str) -> Reply {
    Reply::new(
        StatusCode::OK,
        json!({"error_code": code, "error_msg": msg}),
    )
}

/// `95000001`: a required field is missing or fails its length/format check.
fn invalid_param(detail: &str) -> Reply {
    Reply::new(
        StatusCode::BAD_REQUEST,
        json!({"error_code": "95000001", "error_msg": format!("req param is invalid: {detail}")}),
    )
}

/// The body as a JSON object, or `95000004` (not readable).
fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Reply> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Reply::new(
            StatusCode::BAD_REQUEST,
            json!({"error_code": "95000004", "error_msg": "req message is not readable"}),
        )),
    }
}

/// A mandatory, non-empty string field of at most `max` characters.
fn required_str(map: &Map<String, Value>, name: &str, max: usize) -> Result<String, Reply> {
    match map.get(name) {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(s.clone()),
        Some(Value::String(s)) if !s.is_empty() => Err(invalid_param(&format!(
            "{name} is longer than {max} characters"
        ))),
        _ => Err(invalid_param(&format!("{name} is required"))),
    }
}

/// The `license` field of a request body (activate, heartbeat).
pub fn license_of(body: &[u8]) -> Option<String> {
    let map = parse_object(body).ok()?;
    map.get("license")?.as_str().map(str::to_owned)
}

/// `POST /v1/license/activate`: `{license, real_effect_time?}`.
pub fn activate(sim: &Sim, body: &[u8]) -> Reply {
    let map = match parse_object(body) {
        Ok(map) => map,
        Err(reply) => return reply,
    };
    let license = match required_str(&map, "license", MAX_CODE_LEN) {
        Ok(license) => license,
        Err(reply) => return reply,
    };
    let real_effect_time = match map.get("real_effect_time") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if times::parse_compact(s).is_ok() => Some(s.clone()),
        Some(_) => return invalid_param("real_effect_time must be yyyyMMddHHmmss"),
    };
    let mut state = sim.lock();
    let Some(code) = state.codes.get_mut(&license) else {
        return business("92020005", "license code not exist");
    };
    if !code.claimed {
        return business("92020004", "can not active before user received.");
    }
    if code.activated {
        return business("92020003", "illegal state");
    }
    code.activated = true;
    code.activate_time = Some(now_compact());
    code.real_effect_time = real_effect_time;
    code.activations += 1;
    // The marketplace returns this document as a JSON *string* inside the JSON answer.
    let info = json!({
        "status": code.status,
        "expire_time": code.expire_time,
        "product_id": code.product_id,
        "amount": code.amount,
        "order_id": code.order_id,
    })
    .to_string();
    success(json!({ "license_code_info": info }))
}

/// `POST /v1/license/heartbeat`: `{license, heartbeatInfo?}`.
pub fn heartbeat(sim: &Sim, body: &[u8]) -> Reply {
    let map = match parse_object(body) {
        Ok(map) => map,
        Err(reply) => return reply,
    };
    let license = match required_str(&map, "license", MAX_CODE_LEN) {
        Ok(license) => license,
        Err(reply) => return reply,
    };
    let mut state = sim.lock();
    let Some(code) = state.codes.get_mut(&license) else {
        return business("92020005", "license code not exist");
    };
    if !code.activated {
        return business("92020011", "license code has been not activated.");
    }
    code.heartbeats += 1;
    success(json!({
        "license_code": code.code,
        "status": code.status,
        "activate_time": code.activate_time,
        "expire_time": code.expire_time,
        "product_id": code.product_id,
        "order_id": code.order_id,
        "amount": code.amount,
    }))
}

/// One parsed `software_usage_Info` entry: a client id or a count.
type UsageEntry = (Option<String>, Option<u64>);

/// Checks one `usage_info[]` element; the error is the `92020002` detail.
fn parse_usage(item: &Value) -> Result<(String, Vec<UsageEntry>), String> {
    let license = item
        .get("license")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty() && l.chars().count() <= MAX_CODE_LEN)
        .ok_or("usage_info[].license must be a code of 1 to 64 characters")?;
    // The documented field name has a capital I; a client that writes it otherwise would be
    // refused by the real marketplace too.
    let infos = item
        .get("software_usage_Info")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty() && a.len() <= MAX_USAGE_ENTRIES)
        .ok_or("usage_info[].software_usage_Info must list 1 to 100 entries")?;
    let mut entries = Vec::with_capacity(infos.len());
    for info in infos {
        let id = info.get("id").filter(|v| !v.is_null());
        let num = info.get("active_num").filter(|v| !v.is_null());
        let entry = match (id, num) {
            (Some(Value::String(id)), None) if !id.is_empty() && id.chars().count() <= 256 => {
                (Some(id.clone()), None)
            }
            (None, Some(n)) => match n.as_u64().filter(|n| *n <= MAX_ACTIVE_NUM) {
                Some(n) => (None, Some(n)),
                None => return Err("active_num must be an integer of at most 9 digits".into()),
            },
            _ => {
                return Err(
                    "each entry needs exactly one of id (1 to 256 characters) or active_num".into(),
                );
            }
        };
        entries.push(entry);
    }
    Ok((license.to_owned(), entries))
}

/// `POST /v2/license/software-usage-info`: `{usage_info: [{license, software_usage_Info}]}`.
/// Reports on unknown codes are not recorded and come back in `check_fail_license_list`.
pub fn usage(sim: &Sim, body: &[u8]) -> Reply {
    let map = match parse_object(body) {
        Ok(map) => map,
        Err(reply) => return reply,
    };
    let Some(items) = map.get("usage_info").and_then(Value::as_array) else {
        return invalid_param("usage_info is required");
    };
    if items.is_empty() || items.len() > MAX_USAGE_ENTRIES {
        return business(
            "92020002",
            "invalid param: usage_info must list 1 to 100 codes",
        );
    }
    let mut parsed = Vec::with_capacity(items.len());
    for item in items {
        match parse_usage(item) {
            Ok(usage) => parsed.push(usage),
            Err(detail) => return business("92020002", &format!("invalid param: {detail}")),
        }
    }
    let time = now_rfc3339();
    let mut state = sim.lock();
    let mut failed: Vec<String> = Vec::new();
    for (license, entries) in parsed {
        if !state.codes.contains_key(&license) {
            if !failed.contains(&license) {
                failed.push(license);
            }
            continue;
        }
        for (id, active_num) in entries {
            let report = UsageReport {
                license: license.clone(),
                id,
                active_num,
                time: time.clone(),
            };
            push_capped(&mut state.usage, report);
        }
    }
    success(json!({ "check_fail_license_list": failed }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A simulator holding one claimed code, `PL1`, so the handlers get past the lookup.
    fn sim_with_code() -> Sim {
        let sim = Sim::new(Vec::new());
        let code = crate::sim::state::Code {
            code: "PL1".to_owned(),
            status: crate::sim::state::CodeStatus::Alive,
            claimed: true,
            expire_time: "20300101000000".to_owned(),
            product_id: "P".to_owned(),
            order_id: "O".to_owned(),
            amount: 1,
            activated: false,
            activate_time: None,
            real_effect_time: None,
            activations: 0,
            heartbeats: 0,
        };
        sim.lock().codes.insert(code.code.clone(), code);
        sim
    }

    #[test]
    fn usage_entries_need_exactly_one_of_id_or_active_num() {
        let ok = json!({"license": "PL1", "software_usage_Info": [{"id": "a"}, {"active_num": 3}]});
        assert_eq!(
            parse_usage(&ok),
            Ok((
                "PL1".to_owned(),
                vec![(Some("a".to_owned()), None), (None, Some(3))]
            ))
        );
        for bad in [
            json!({"license": "PL1", "software_usage_Info": [{"id": "a", "active_num": 1}]}),
            json!({"license": "PL1", "software_usage_Info": [{}]}),
            json!({"license": "PL1", "software_usage_Info": [{"active_num": -1}]}),
            json!({"license": "PL1", "software_usage_Info": [{"active_num": 1_000_000_000}]}),
            json!({"license": "PL1", "software_usage_Info": []}),
            json!({"license": "", "software_usage_Info": [{"id": "a"}]}),
            json!({"software_usage_Info": [{"id": "a"}]}),
        ] {
            assert!(parse_usage(&bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn open_apis_never_panic_on_any_body(body in prop::collection::vec(any::<u8>(), 0..200)) {
            let sim = sim_with_code();
            let _ = activate(&sim, &body);
            let _ = heartbeat(&sim, &body);
            let _ = usage(&sim, &body);
            let _ = license_of(&body);
        }

        #[test]
        fn open_apis_never_panic_on_odd_json(
            license in "\\PC{0,80}",
            time in "\\PC{0,20}",
            id in "\\PC{0,300}",
            num in any::<i64>(),
        ) {
            let sim = sim_with_code();
            let bodies = [
                json!({"license": license, "real_effect_time": time}),
                json!({"license": 5, "real_effect_time": num}),
                json!({"usage_info": [{"license": license, "software_usage_Info": [{"id": id}, {"active_num": num}]}]}),
                json!({"usage_info": {"license": license}}),
            ];
            for body in bodies {
                let bytes = body.to_string().into_bytes();
                let _ = activate(&sim, &bytes);
                let _ = heartbeat(&sim, &bytes);
                let _ = usage(&sim, &bytes);
            }
        }
    }
}
