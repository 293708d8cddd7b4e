#![expect(clippy::unwrap_used, reason = "tests")]

use std::collections::HashMap;

use super::{ConnectionBudget, fd_allowance};
use crate::config::Settings;

fn settings(pairs: &[(&str, &str)]) -> Settings {
    let env: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Settings::from_sources(env, None).unwrap()
}

#[test]
fn the_descriptor_limit_keeps_a_reserve_for_the_database_and_outbound_calls() {
    // 64 + 2 × 32 idle outbound + 3 × (16 + 16) = 224 reserved, the rest halved.
    assert_eq!(fd_allowance(1024, 16), 400);
    assert_eq!(fd_allowance(256, 8), 28);
    assert_eq!(fd_allowance(100, 16), 0);
}

#[test]
fn without_a_setting_the_cap_is_what_the_descriptors_allow() {
    let s = settings(&[("KOOLICENSE_HTTP_WORKERS", "4")]);
    let budget = ConnectionBudget::decide(&s, Some(1024));
    assert_eq!(budget.total, 400);
    assert_eq!(budget.fd_allowance, Some(400));
    assert_eq!(budget.warning, None);
}

#[test]
fn a_setting_within_the_descriptor_limit_is_kept() {
    let s = settings(&[("KOOLICENSE_MAX_CONNECTIONS", "100")]);
    let budget = ConnectionBudget::decide(&s, Some(1024));
    assert_eq!(budget.total, 100);
    assert_eq!(budget.warning, None);
}

#[test]
fn a_setting_beyond_the_descriptor_limit_is_lowered_with_a_warning() {
    let s = settings(&[("KOOLICENSE_MAX_CONNECTIONS", "5000")]);
    let budget = ConnectionBudget::decide(&s, Some(1024));
    assert_eq!(budget.total, 400);
    let warning = budget.warning.unwrap();
    assert!(
        warning.contains("KOOLICENSE_MAX_CONNECTIONS=5000"),
        "{warning}"
    );
    assert!(warning.contains("1024"), "{warning}");
}

#[test]
fn a_descriptor_limit_too_low_for_anything_still_accepts_one_connection() {
    let budget = ConnectionBudget::decide(&settings(&[]), Some(64));
    assert_eq!(budget.total, 1);
    assert!(budget.warning.is_some());
}

#[test]
fn no_descriptor_limit_and_no_setting_keeps_a_large_default() {
    let budget = ConnectionBudget::decide(&settings(&[]), None);
    assert_eq!(budget.total, 25_600);
    assert_eq!(budget.fd_allowance, None);
}

#[test]
fn a_tenth_of_the_cap_is_kept_free_for_newcomers() {
    let budget = |total| ConnectionBudget {
        total,
        fd_allowance: None,
        warning: None,
    };
    assert_eq!(budget(432).shed_above(), 389);
    assert_eq!(budget(5).shed_above(), 4);
    assert_eq!(budget(1).shed_above(), 0);
}
