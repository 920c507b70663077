//! The I/O Events sender's delivery timeout.

use std::time::Duration;

use crate::common::{client, sim};

/// I/O Events gives a webhook 10 s to answer; a slower one is a failed
/// attempt, retried. A listener that accepts and never answers: the attempt
/// ends as a timeout, which `deliver_until_settled` counts as status 0.
#[tokio::test]
async fn a_webhook_that_does_not_answer_in_10_s_is_a_failed_attempt() {
    let sim = sim().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/events", listener.local_addr().unwrap());
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    assert_eq!(
        accs_sim::io_events::DELIVERY_TIMEOUT,
        Duration::from_secs(10)
    );
    let body = br#"{"id":"e-1"}"#;
    let settled = tokio::time::timeout(
        Duration::from_secs(20),
        sim.io_events()
            .deliver_until_settled(&client(), &url, body, Some("e-1"), 1),
    )
    .await
    .expect("the sender gives up at its own cut-off, not never");
    let (status, answer, attempts) = settled.unwrap();
    assert_eq!((status, answer, attempts), (0, serde_json::Value::Null, 1));
}
