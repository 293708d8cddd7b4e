//! A server that goes quiet after some work gives memory back (page caches, the allocator's free
//! pages); what it answers afterwards is unchanged.

use std::time::{Duration, Instant};

use super::{Client, machine};
use crate::helpers::TestApp;
use crate::with_marketplace;

with_marketplace!(
    answers_are_unchanged_after_an_idle_memory_release,
    |client: Client| async move {
        client.add_code("PLIDLE00000001", 2).await;
        let first = client.activate("PLIDLE00000001", &machine(1)).await;
        assert_eq!(first.status, 201, "{:?}", first.body);
        let checked = client.check_in("PLIDLE00000001", &machine(1)).await;
        assert_eq!(checked.status, 200, "{:?}", checked.body);
        assert_eq!(memory_releases(&client.app).await, 0);

        // Probes and scrapes (the polling below) do not keep the server busy.
        wait_for_memory_release(&client.app).await;

        let repeat = client.activate("PLIDLE00000001", &machine(1)).await;
        assert_eq!(repeat.status, 200, "{:?}", repeat.body);
        assert_eq!(repeat.license(), first.license());
        let again = client.check_in("PLIDLE00000001", &machine(1)).await;
        assert_eq!(again.body, checked.body);
        assert_eq!(again.body["valid"], true);
        let second = client.activate("PLIDLE00000001", &machine(2)).await;
        assert_eq!(second.status, 201, "{:?}", second.body);
        assert_eq!(second.body["seats"]["used"], 2);
        let third = client.activate("PLIDLE00000001", &machine(3)).await;
        assert_eq!(third.status, 409, "{:?}", third.body);
    }
);

/// `koolicense_memory_releases_total` as `/metrics` reports it.
async fn memory_releases(app: &TestApp) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("koolicense_memory_releases_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no memory release counter in {text}"))
}

async fn wait_for_memory_release(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while memory_releases(app).await == 0 {
        assert!(
            Instant::now() < deadline,
            "no memory release after 30 s idle"
        );
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    }
}
