//! The cockpit's Jaeger client against the stand-in, with spans sent by the real
//! worker code path (OTLP protobuf): the legacy API, and `/api/v3` only (Jaeger > 2.20).

mod common;

use std::time::Duration;

use common::{Rig, eventually};
use drill_cockpit::db::outbox::Op;
use drill_cockpit::jaeger::client::{Api, JaegerClient, batch_query, event_query};
use testkit::jaeger::JaegerStandin;

async fn exercise(rig: &Rig, jaeger_url: &str, expected_api: Api) {
    rig.es.server.stop();
    let worker = rig.spawn_worker("w-jc", &[("OTEL_EXPORTER_OTLP_ENDPOINT", jaeger_url)]);
    worker.wait_ready().await;
    let id = rig.insert(Op::Delete, 1).await[0];
    let client = JaegerClient::new(jaeger_url, "wordloom-search-outbox-worker");
    let query = event_query(&id.to_string(), Duration::from_secs(600));
    assert!(
        eventually(Duration::from_secs(15), || async {
            client
                .find(&query)
                .await
                .is_ok_and(|f| !f.traces.is_empty())
        })
        .await,
        "no trace for {id} at {jaeger_url}"
    );
    let found = client.find(&query).await.unwrap();
    assert_eq!(found.api, expected_api);
    let process = found.traces[0]
        .span("outbox.process")
        .expect("outbox.process span");
    let batch_id = process.tags["wordloom.claim_batch_id"].clone();
    // The batch's span ends after the event's (it is its parent): it can reach the
    // collector in a later export, so the batch query waits for it too.
    let batch = batch_query(&batch_id, Duration::from_secs(600));
    assert!(
        eventually(Duration::from_secs(15), || async {
            client.find(&batch).await.is_ok_and(|f| {
                f.traces
                    .iter()
                    .any(|t| t.span("projection.process_batch").is_some())
            })
        })
        .await,
        "no projection.process_batch span for batch {batch_id} at {jaeger_url}"
    );
    let by_batch = client.find(&batch).await.unwrap();
    assert_eq!(by_batch.traces.len(), 1);
    assert_eq!(
        by_batch.traces[0]
            .span("projection.process_batch")
            .unwrap()
            .tags["result"],
        "retry"
    );
    // Nothing found is an empty answer, not an error, on both APIs.
    let none = client
        .find(&event_query(
            "00000000-0000-0000-0000-000000000000",
            Duration::from_secs(600),
        ))
        .await
        .unwrap();
    assert!(none.traces.is_empty());
    assert!(
        client
            .services()
            .await
            .unwrap()
            .to_string()
            .contains("wordloom-search-outbox-worker")
    );
    assert!(
        client
            .operations()
            .await
            .unwrap()
            .to_string()
            .contains("outbox.process")
    );
    assert_eq!(client.ui_link("abc"), format!("{jaeger_url}/trace/abc"));
}

#[tokio::test]
async fn finds_both_pivots_through_the_legacy_api() {
    let Some(rig) = Rig::new().await else { return };
    let url = rig.jaeger.url();
    exercise(&rig, &url, Api::Legacy).await;
}

#[tokio::test]
async fn falls_back_to_api_v3_when_the_legacy_search_is_gone() {
    let Some(rig) = Rig::new().await else { return };
    let v3 = JaegerStandin::start_v3_only().await.unwrap();
    exercise(&rig, &v3.url(), Api::V3).await;
}

#[tokio::test]
async fn an_unreachable_jaeger_is_an_error_that_names_it_and_the_fix() {
    let client = JaegerClient::new("http://127.0.0.1:1", "svc");
    let error = client
        .find(&event_query("x", Duration::from_secs(60)))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("cannot reach Jaeger at http://127.0.0.1:1") && error.contains("jaeger.url"),
        "{error}"
    );
}
