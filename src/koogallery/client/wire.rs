//! Reading the marketplace's JSON leniently: fields may be strings or numbers, times come in
//! several formats, and unknown fields are ignored (compatibility rule, spec §3.2).

use chrono::{DateTime, NaiveDateTime};
use serde_json::Value;

use super::types::{LicenseCodeInfo, LicenseInfo, MarketplaceError, OrderInfo, OrderLine};
use crate::domain::times;

/// A string field; numbers are read as their decimal text, empty strings as absent.
pub(super) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An integer field: a JSON integer, an integral float, or a numeric string.
pub(super) fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A time field: `yyyyMMddHHmmss[SSS]`, `yyyy-MM-dd HH:mm:ss[ z]`, RFC 3339, or epoch
/// milliseconds (as a number or a 13-digit string). The format of `activate_time` is not
/// documented (open question 5), hence the breadth. Unreadable → `None`, never an error; so is
/// a time outside the years a license file can carry ([`times::in_range`]).
pub(super) fn time(v: Option<&Value>) -> Option<NaiveDateTime> {
    let t = match v? {
        Value::Number(n) => n.as_i64().and_then(epoch_millis),
        Value::String(s) => {
            let s = s.trim();
            if s.len() == 13 && s.bytes().all(|b| b.is_ascii_digit()) {
                return s.parse().ok().and_then(epoch_millis);
            }
            times::parse_license_time(s).ok()
        }
        _ => None,
    };
    t.and_then(times::in_range)
}

fn epoch_millis(ms: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_millis(ms).map(|t| t.naive_utc())
}

/// `license_code_info` of an activation: a JSON document inside a string (or, tolerated, an
/// object).
pub(super) fn license_code_info(data: Option<&Value>) -> Result<LicenseCodeInfo, MarketplaceError> {
    let raw = data
        .and_then(|d| d.get("license_code_info"))
        .ok_or_else(|| protocol("activation succeeded without data.license_code_info"))?;
    let info: Value = match raw {
        Value::String(s) => serde_json::from_str(s)
            .map_err(|e| protocol(&format!("license_code_info is not JSON: {e}")))?,
        Value::Object(_) => raw.clone(),
        _ => {
            return Err(protocol(
                "license_code_info is neither a string nor an object",
            ));
        }
    };
    Ok(LicenseCodeInfo {
        // A successful activation leaves the code alive; the field is only informative.
        status: text(info.get("status")).map_or_else(|| "ALIVE".to_owned(), |s| s.to_uppercase()),
        expire_time: time(info.get("expire_time")),
        product_id: text(info.get("product_id")),
        order_id: text(info.get("order_id")),
        amount: int(info.get("amount")),
    })
}

/// `data` of a query: a `LicenseInfo` object, or (tolerated, as the v2 batch form may answer)
/// a list of them, from which the entry for `code` is taken.
pub(super) fn license_info(
    data: Option<&Value>,
    code: &str,
) -> Result<LicenseInfo, MarketplaceError> {
    let info = match data {
        Some(Value::Array(items)) => items
            .iter()
            .find(|i| text(i.get("license_code")).as_deref() == Some(code))
            .or_else(|| items.first()),
        other => other,
    }
    .filter(|i| i.is_object())
    .ok_or_else(|| protocol("query succeeded without a LicenseInfo in data"))?;
    let status = text(info.get("status"))
        .ok_or_else(|| protocol("LicenseInfo without status"))?
        .to_uppercase();
    Ok(LicenseInfo {
        status,
        expire_time: time(info.get("expire_time").or_else(|| info.get("expireTime"))),
        activate_time: time(
            info.get("activate_time")
                .or_else(|| info.get("activateTime")),
        ),
        product_id: text(info.get("product_id").or_else(|| info.get("productId"))),
        order_id: text(info.get("order_id").or_else(|| info.get("orderId"))),
        amount: int(info.get("amount")),
    })
}

/// The codes in any `data.check_fail_*` list. The field's full name was not retrievable (open
/// question 6), so every key starting with `check_fail` counts, and its entries may be codes,
/// objects holding the code, or one comma-separated string.
pub(super) fn failed_codes(data: Option<&Value>) -> Option<Vec<String>> {
    let object = data?.as_object()?;
    let mut found = None;
    for (key, value) in object {
        if !key.to_ascii_lowercase().starts_with("check_fail") {
            continue;
        }
        let codes: &mut Vec<String> = found.get_or_insert_with(Vec::new);
        match value {
            Value::Array(items) => codes.extend(items.iter().filter_map(|item| {
                text(Some(item)).or_else(|| {
                    ["license", "license_code", "code"]
                        .iter()
                        .find_map(|k| text(item.get(*k)))
                })
            })),
            Value::String(s) => codes.extend(
                s.split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            ),
            _ => {}
        }
    }
    found
}

/// `orderInfo` of an order query.
///
/// The spec did not retrieve the product and quantity fields of an order line (§4.3.1). We read
/// them the way the `SaaS` order query of Huawei Cloud shapes them — `productInfo[0].productId` and
/// `productInfo[0].linearValue` (the linear, i.e. quantity, attribute) — and fall back to
/// `productId`, then `quantity` or `amount`, on the line itself. `productInfo` given as a
/// single object instead of a list is read too. Whatever shape KooGallery actually uses among
/// these, the instance gets its product and quota.
pub(super) fn order_info(json: &Value) -> Result<OrderInfo, MarketplaceError> {
    let info = json
        .get("orderInfo")
        .filter(|i| i.is_object())
        .ok_or_else(|| protocol("order query succeeded without orderInfo"))?;
    let order_id =
        text(info.get("orderId")).ok_or_else(|| protocol("orderInfo without orderId"))?;
    let order_type =
        text(info.get("orderType")).ok_or_else(|| protocol("orderInfo without orderType"))?;
    let lines = match info.get("orderLine").or_else(|| info.get("orderLines")) {
        Some(Value::Array(lines)) => lines.iter().map(order_line).collect::<Result<_, _>>()?,
        Some(line @ Value::Object(_)) => vec![order_line(line)?],
        _ => return Err(protocol("orderInfo without orderLine")),
    };
    let mut raw = info.clone();
    if let Some(object) = raw.as_object_mut() {
        object.remove("buyerInfo");
    }
    Ok(OrderInfo {
        order_id,
        order_type,
        create_time: time(info.get("createTime")),
        lines,
        raw: raw.to_string(),
    })
}

fn order_line(line: &Value) -> Result<OrderLine, MarketplaceError> {
    let product = match line.get("productInfo") {
        Some(Value::Array(items)) => items.first(),
        Some(object @ Value::Object(_)) => Some(object),
        _ => None,
    };
    let from_product = |name: &str| product.and_then(|p| p.get(name));
    Ok(OrderLine {
        order_line_id: text(line.get("orderLineId"))
            .ok_or_else(|| protocol("orderLine without orderLineId"))?,
        charging_mode: text(line.get("chargingMode")),
        expire_time: time(line.get("expireTime")),
        product_id: text(from_product("productId")).or_else(|| text(line.get("productId"))),
        quantity: int(from_product("linearValue"))
            .or_else(|| int(line.get("quantity")))
            .or_else(|| int(line.get("amount"))),
    })
}

fn protocol(what: &str) -> MarketplaceError {
    MarketplaceError::Protocol(what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_are_read_in_every_form_seen() {
        let t = |v: Value| time(Some(&v)).map(|t| t.to_string());
        let want = Some("2023-07-26 12:16:46".to_owned());
        assert_eq!(t(json!("20230726121646")), want);
        assert_eq!(t(json!("20230726121646000")), want);
        assert_eq!(t(json!("2023-07-26 12:16:46 z")), want);
        assert_eq!(t(json!("2023-07-26T12:16:46Z")), want);
        assert_eq!(t(json!(1_690_373_806_000_i64)), want);
        assert_eq!(t(json!("1690373806000")), want);
        assert_eq!(t(json!("soon")), None);
    }

    #[test]
    fn times_no_license_can_carry_are_unreadable() {
        let t = |v: Value| time(Some(&v));
        // 10000-01-01T00:00:00Z and 1999-12-31T23:59:59Z, as epoch milliseconds.
        assert_eq!(t(json!(253_402_300_800_000_i64)), None);
        assert_eq!(t(json!(946_684_799_000_i64)), None);
        assert!(t(json!(253_402_300_799_000_i64)).is_some());
    }

    #[test]
    fn numbers_and_strings_are_interchangeable() {
        assert_eq!(int(Some(&json!("3"))), Some(3));
        assert_eq!(int(Some(&json!(3.0))), Some(3));
        assert_eq!(int(Some(&json!(3.5))), None);
        assert_eq!(text(Some(&json!(12345))), Some("12345".to_owned()));
        assert_eq!(text(Some(&json!(""))), None);
    }

    #[test]
    fn any_check_fail_list_is_read() {
        let read = |v: Value| failed_codes(Some(&v));
        assert_eq!(
            read(json!({"check_fail_list": ["A", "B"]})),
            Some(vec!["A".into(), "B".into()])
        );
        assert_eq!(
            read(json!({"check_fail_licenses": [{"license": "A"}]})),
            Some(vec!["A".into()])
        );
        assert_eq!(
            read(json!({"check_failed": "A, B"})),
            Some(vec!["A".into(), "B".into()])
        );
        assert_eq!(read(json!({"other": ["A"]})), None);
    }

    #[test]
    fn order_lines_fall_back_to_fields_on_the_line() {
        let order = json!({"orderInfo": {"orderId": "O", "orderType": "NEW", "createTime": "20240101000000",
            "buyerInfo": {"email": "x"},
            "orderLine": [{"orderLineId": "O-1", "productId": "P", "quantity": "4"}]}});
        let info = order_info(&order).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.lines[0].product_id.as_deref(), Some("P"));
        assert_eq!(info.lines[0].quantity, Some(4));
        assert!(!info.raw.contains("buyerInfo"));
    }
}
