//! Finding 1: a client's method token or path never becomes a label of its own.

use crate::both_backends;
use crate::helpers::TestApp;

/// Requests with `count` distinct odd methods, on random paths and on real routes; returns the
/// random parts.
async fn odd_requests(app: &TestApp, from: usize, count: usize) -> Vec<String> {
    let mut random = Vec::new();
    for i in from..from + count {
        let method = reqwest::Method::from_bytes(format!("X{i:05}Z").as_bytes()).unwrap();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let path = match i % 3 {
            0 => format!("/{id}"),
            1 => "/healthz".to_owned(),
            _ => format!("/admin/v1/codes/{id}"),
        };
        let response = app
            .client
            .request(method, app.url(&path))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_client_error(),
            "{path}: {}",
            response.status()
        );
        random.push(id);
    }
    random
}

both_backends!(
    odd_methods_and_random_paths_leave_metrics_bounded,
    |app: TestApp| async move {
        // Arrange: every kind of odd request once, so each label set it can make exists.
        odd_requests(&app, 0, 30).await;
        let before = app.get("/metrics").await.text().await.unwrap();

        // Act
        let random = odd_requests(&app, 30, 600).await;
        let after = app.get("/metrics").await.text().await.unwrap();

        // Assert: only counts moved (a few digits per series); every odd request is `other`,
        // and no token or path made it into a label.
        assert!(
            after.len() < before.len() + 2048,
            "/metrics grew from {} to {} bytes",
            before.len(),
            after.len()
        );
        assert!(
            after.contains(r#"method="other",route="unmatched",status="404""#),
            "{after}"
        );
        assert!(
            after.contains(r#"method="other",route="/healthz""#),
            "{after}"
        );
        assert!(
            after.contains(r#"method="other",route="/admin/v1/codes/{code}""#),
            "{after}"
        );
        assert!(!after.contains("X00042Z"), "{after}");
        assert!(
            random.iter().all(|id| !after.contains(id.as_str())),
            "{after}"
        );
        for line in after
            .lines()
            .filter(|l| l.starts_with("koolicense_http_requests_total"))
        {
            assert!(
                ["GET", "POST", "other"]
                    .iter()
                    .any(|m| line.contains(&format!(r#"method="{m}""#))),
                "{line}"
            );
        }
    }
);
