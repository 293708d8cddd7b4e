//! Orders: the built-in mock orders, the order-query open API
//! (`GET …/v1/order/query`, koogallery.md §4.3.1) and the control API's `/sim/orders`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{NaiveDateTime, TimeDelta};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::control::{bad_request, compact, error_response};
use super::gateway::Reply;
use super::state::Sim;
use crate::domain::times;

const ORDER_TYPES: [&str; 6] = [
    "NEW",
    "TRIAL",
    "TRIAL_TO_FORMAL",
    "UNSUBSCRIBE",
    "RENEW",
    "CHANGE",
];
const CHARGING_MODES: [&str; 4] = ["ON_DEMAND", "ONE_TIME", "PERIOD", "ON_DEMAND_PKG"];

/// One order line, in the order-query response's field names (also the control API's input).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderLine {
    /// `<orderId>-000001` style id.
    pub order_line_id: String,
    /// `ON_DEMAND`, `ONE_TIME`, `PERIOD` or `ON_DEMAND_PKG`.
    pub charging_mode: String,
    /// Expiry `yyyyMMddHHmmss`, absent for non-periodic lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_time: Option<String>,
    /// Product.
    pub product_id: String,
    /// SKU.
    #[serde(default)]
    pub sku_code: Option<String>,
    /// Purchased quantity (reported as `linearValue` too).
    pub quantity: u64,
    /// `year`/`month`/`day` for periodic lines, as in the documented example.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_type: Option<String>,
    /// Number of periods for periodic lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_number: Option<u32>,
}

/// An order as set up through the control API (or built in).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Order id.
    pub order_id: String,
    /// `NEW`, `TRIAL`, `TRIAL_TO_FORMAL`, `UNSUBSCRIBE`, `RENEW` or `CHANGE`.
    pub order_type: String,
    /// Placement time `yyyyMMddHHmmss`.
    pub create_time: String,
    /// The lines.
    pub lines: Vec<OrderLine>,
}

/// The debugging orders the real marketplace answers for (koogallery.md §4.3.1), each with
/// line `<id>-000001`. Periodic ones expire a year from `now`; the change order carries a
/// larger quantity so an upgrade visibly changes the quota.
pub fn mock_orders(now: NaiveDateTime) -> Vec<Order> {
    let create_time = times::format_compact(now);
    let in_a_year = times::format_compact(now + TimeDelta::days(365));
    let table: [(&str, &str, &str, u64); 9] = [
        ("MOCKPERIODYEARNEW", "NEW", "PERIOD", 5),
        ("MOCKONETIMENEW", "NEW", "ONE_TIME", 1),
        ("MOCKONDEMAND", "NEW", "ON_DEMAND", 1),
        ("MOCKONDEMANDPKG", "NEW", "ON_DEMAND_PKG", 100),
        ("MOCKPERIODDAYTRIAL", "TRIAL", "PERIOD", 1),
        ("MOCKMONTYTRIALTOFORMAL", "TRIAL_TO_FORMAL", "PERIOD", 5),
        ("MOCKMONTYUNSUBSCRIBE", "UNSUBSCRIBE", "PERIOD", 5),
        ("MOCKMONTYRENEW", "RENEW", "PERIOD", 5),
        ("MOCKMONTYCHANGE", "CHANGE", "PERIOD", 10),
    ];
    table
        .iter()
        .map(|&(id, order_type, mode, quantity)| {
            let periodic = mode == "PERIOD";
            let (period_type, period_number) = match (periodic, order_type) {
                (false, _) => (None, None),
                (true, "TRIAL") => (Some("day"), Some(7)),
                (true, "NEW") => (Some("year"), Some(1)),
                (true, _) => (Some("month"), Some(12)),
            };
            Order {
                order_id: id.to_owned(),
                order_type: order_type.to_owned(),
                create_time: create_time.clone(),
                lines: vec![OrderLine {
                    order_line_id: format!("{id}-000001"),
                    charging_mode: mode.to_owned(),
                    expire_time: (periodic || mode == "ON_DEMAND_PKG").then(|| in_a_year.clone()),
                    product_id: format!("OFFI-SIM-{mode}"),
                    sku_code: Some(format!("sku-sim-{}", mode.to_ascii_lowercase())),
                    quantity,
                    period_type: period_type.map(str::to_owned),
                    period_number,
                }],
            }
        })
        .collect()
}

/// The `orderInfo` object of an order, limited to one line when `line` is given; `None` if
/// that line does not exist.
pub fn order_info(order: &Order, line: Option<&str>) -> Option<Value> {
    let lines: Vec<Value> = order
        .lines
        .iter()
        .filter(|l| line.is_none_or(|id| l.order_line_id == id))
        .map(|l| {
            let mut v = json!({
                "orderLineId": l.order_line_id,
                "chargingMode": l.charging_mode,
            });
            if let Some(obj) = v.as_object_mut() {
                let optional = [
                    ("periodType", l.period_type.clone().map(Value::from)),
                    ("periodNumber", l.period_number.map(Value::from)),
                    ("expireTime", l.expire_time.clone().map(Value::from)),
                ];
                for (name, value) in optional {
                    if let Some(value) = value {
                        obj.insert(name.to_owned(), value);
                    }
                }
                obj.insert(
                    "productInfo".to_owned(),
                    json!([{
                        "productId": l.product_id,
                        "skuCode": l.sku_code,
                        "linearValue": l.quantity,
                    }]),
                );
                obj.insert("quantity".to_owned(), l.quantity.into());
            }
            v
        })
        .collect();
    if lines.is_empty() {
        return None;
    }
    Some(json!({
        "orderId": order.order_id,
        "orderType": order.order_type,
        "createTime": order.create_time,
        "orderLine": lines,
    }))
}

/// The `orderId` and `orderLineId` of a raw query string (form-decoded).
pub fn order_params(query: &str) -> (Option<String>, Option<String>) {
    let (mut order, mut line) = (None, None);
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "orderId" => order = Some(value.into_owned()),
            "orderLineId" => line = Some(value.into_owned()),
            _ => {}
        }
    }
    (
        order.filter(|o| !o.is_empty()),
        line.filter(|l| !l.is_empty()),
    )
}

/// `GET /v1/order/query?orderId=&orderLineId=`.
///
/// Codes follow the order API's own table (the `MKT.*` family, seen on the public
/// "查询订单:错误码" page): `MKT.0000` success; `MKT.0101` (HTTP 400) for a missing or
/// oversized parameter; and for an order or line that does not exist — a case the table does
/// not name — `MKT.0100` "Failure of input parameter" with the table's HTTP 500, the row
/// that covers illegal values. A client must therefore not treat every 5xx as transient.
pub fn order(sim: &Sim, query: &str) -> Reply {
    let (order_id, line_id) = order_params(query);
    let Some(order_id) = order_id.filter(|o| o.chars().count() <= 64) else {
        return Reply::new(
            StatusCode::BAD_REQUEST,
            json!({"resultCode": "MKT.0101", "resultMsg": "Invalid parameter: orderId is required"}),
        );
    };
    if line_id.as_ref().is_some_and(|l| l.chars().count() > 64) {
        return Reply::new(
            StatusCode::BAD_REQUEST,
            json!({"resultCode": "MKT.0101", "resultMsg": "Invalid parameter: orderLineId is too long"}),
        );
    }
    let state = sim.lock();
    match state
        .orders
        .get(&order_id)
        .and_then(|o| order_info(o, line_id.as_deref()))
    {
        Some(info) => Reply::new(
            StatusCode::OK,
            json!({"resultCode": "MKT.0000", "resultMsg": "Success.", "orderInfo": info}),
        ),
        None => Reply::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"resultCode": "MKT.0100", "resultMsg": "Failure of input parameter: order not found"}),
        ),
    }
}

/// `POST /sim/orders` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct OrderSpec {
    order_id: String,
    order_type: String,
    create_time: Option<String>,
    lines: Vec<OrderLine>,
}

fn check_order(spec: OrderSpec) -> Result<Order, HttpResponse> {
    if spec.order_id.is_empty() || spec.order_id.chars().count() > 64 {
        return Err(bad_request("orderId must be 1 to 64 characters"));
    }
    if !ORDER_TYPES.contains(&spec.order_type.as_str()) {
        return Err(bad_request(&format!(
            "orderType must be one of {ORDER_TYPES:?}"
        )));
    }
    if spec.lines.is_empty() {
        return Err(bad_request("lines must not be empty"));
    }
    let create_time = match spec.create_time {
        Some(t) => compact("createTime", &t)?,
        None => super::state::now_compact(),
    };
    let mut lines = Vec::with_capacity(spec.lines.len());
    for mut line in spec.lines {
        if line.order_line_id.is_empty() || line.product_id.is_empty() {
            return Err(bad_request(
                "each line needs an orderLineId and a productId",
            ));
        }
        if !CHARGING_MODES.contains(&line.charging_mode.as_str()) {
            return Err(bad_request(&format!(
                "chargingMode must be one of {CHARGING_MODES:?}"
            )));
        }
        if let Some(t) = &line.expire_time {
            line.expire_time = Some(compact("expireTime", t)?);
        }
        lines.push(line);
    }
    Ok(Order {
        order_id: spec.order_id,
        order_type: spec.order_type,
        create_time,
        lines,
    })
}

/// Creates (or replaces) an order; answers its `orderInfo` as the query API shows it.
pub(super) async fn create_order(sim: web::Data<Sim>, spec: web::Json<OrderSpec>) -> HttpResponse {
    let order = match check_order(spec.into_inner()) {
        Ok(order) => order,
        Err(response) => return response,
    };
    let info = order_info(&order, None);
    sim.lock().orders.insert(order.order_id.clone(), order);
    HttpResponse::Created().json(json!({ "orderInfo": info }))
}

pub(super) async fn get_order(sim: web::Data<Sim>, order_id: web::Path<String>) -> HttpResponse {
    match sim.lock().orders.get(order_id.as_str()) {
        Some(order) => HttpResponse::Ok().json(json!({ "orderInfo": order_info(order, None) })),
        None => error_response(StatusCode::NOT_FOUND, "no such order"),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;
    use crate::sim::state::SimState;

    #[test]
    fn every_mock_order_has_its_line_and_periodic_ones_expire() {
        let state = SimState::new();
        assert_eq!(state.orders.len(), 9);
        for (id, order) in &state.orders {
            let line = &order.lines[0];
            assert_eq!(line.order_line_id, format!("{id}-000001"));
            assert_eq!(line.charging_mode == "PERIOD", line.period_type.is_some());
            if line.charging_mode == "PERIOD" {
                assert!(times::parse_compact(line.expire_time.as_deref().unwrap()).is_ok());
            }
        }
    }
}
