use super::*;

#[test]
fn activities_outside_the_known_set_count_as_unknown() {
    let known = ["newInstance", "getLicenseAsync"];
    assert_eq!(activity_key(Some("newInstance"), &known), "newInstance");
    assert_eq!(activity_key(Some("newinstance"), &known), "unknown");
    assert_eq!(activity_key(Some(&"x".repeat(10_000)), &known), "unknown");
    assert_eq!(activity_key(None, &known), "unknown");
}

#[test]
fn counts_merge_per_key_and_stay_bounded() -> anyhow::Result<()> {
    let rejections = Rejections::new()?;
    for _ in 0..1000 {
        rejections.record(Interface::Post, "unknown", Reason::BadSignature);
    }
    rejections.record(Interface::Legacy, "getLicense", Reason::StaleTimestamp);
    let counts = rejections.take();
    assert_eq!(counts.len(), 2);
    let calls: i64 = counts.iter().map(|(_, c)| c.calls).sum();
    assert_eq!(calls, 1001);
    assert!(rejections.take().is_empty());
    Ok(())
}

#[test]
fn reason_names_are_distinct() {
    let names: std::collections::HashSet<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(names.len(), Reason::ALL.len());
}
