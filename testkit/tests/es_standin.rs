//! The Elasticsearch stand-in answers like ES 8 for everything the worker relies on.

use serde_json::{Value, json};
use testkit::es::EsStandin;

async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("stand-in answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn root_and_health_have_es8_shapes() {
    let es = EsStandin::start().await.unwrap();
    let client = reqwest::Client::new();
    let (status, root) = send(&client, reqwest::Method::GET, es.url(), None).await;
    assert_eq!(status, 200);
    assert!(
        root["version"]["number"]
            .as_str()
            .unwrap()
            .starts_with("8.")
    );
    assert_eq!(root["tagline"], "You Know, for Search");
    let (status, health) = send(
        &client,
        reqwest::Method::GET,
        format!("{}/_cluster/health", es.url()),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "green");
}

#[tokio::test]
async fn external_versions_conflict_when_not_newer_and_delete_of_missing_is_404_not_found() {
    let es = EsStandin::start().await.unwrap();
    let client = reqwest::Client::new();
    let base = es.url();
    let (status, _) = send(
        &client,
        reqwest::Method::PUT,
        format!("{base}/ix"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, exists) = send(
        &client,
        reqwest::Method::PUT,
        format!("{base}/ix"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(exists["error"]["type"], "resource_already_exists_exception");
    let head = client
        .head(format!("{base}/ix"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(head, 200);
    assert_eq!(
        client
            .head(format!("{base}/nope"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );

    let (status, created) = send(
        &client,
        reqwest::Method::PUT,
        format!("{base}/ix/_doc/a?version=5&version_type=external"),
        Some(json!({"text": "v5"})),
    )
    .await;
    assert_eq!(
        (
            status,
            created["result"].as_str(),
            created["_version"].as_i64()
        ),
        (201, Some("created"), Some(5))
    );
    let (status, conflict) = send(
        &client,
        reqwest::Method::PUT,
        format!("{base}/ix/_doc/a?version=5&version_type=external"),
        Some(json!({"text": "again"})),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        conflict["error"]["type"],
        "version_conflict_engine_exception"
    );
    assert_eq!(
        conflict["error"]["root_cause"][0]["type"],
        "version_conflict_engine_exception"
    );
    assert_eq!(conflict["status"], 409);
    let (status, updated) = send(
        &client,
        reqwest::Method::PUT,
        format!("{base}/ix/_doc/a?version=6&version_type=external"),
        Some(json!({"text": "v6"})),
    )
    .await;
    assert_eq!((status, updated["result"].as_str()), (200, Some("updated")));
    let (status, doc) = send(
        &client,
        reqwest::Method::GET,
        format!("{base}/ix/_doc/a"),
        None,
    )
    .await;
    assert_eq!(
        (
            status,
            doc["_source"]["text"].as_str(),
            doc["found"].as_bool()
        ),
        (200, Some("v6"), Some(true))
    );

    // An older delete is refused; a newer one deletes and leaves a tombstone.
    let (status, _) = send(
        &client,
        reqwest::Method::DELETE,
        format!("{base}/ix/_doc/a?version=3&version_type=external"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    let (status, deleted) = send(
        &client,
        reqwest::Method::DELETE,
        format!("{base}/ix/_doc/a?version=7&version_type=external"),
        None,
    )
    .await;
    assert_eq!((status, deleted["result"].as_str()), (200, Some("deleted")));
    let (status, stale) = send(
        &client,
        reqwest::Method::PUT,
        format!("{base}/ix/_doc/a?version=6&version_type=external"),
        Some(json!({"text": "stale"})),
    )
    .await;
    assert_eq!(
        status, 409,
        "a stale write after a delete must not resurrect the doc: {stale}"
    );

    let (status, missing) = send(
        &client,
        reqwest::Method::DELETE,
        format!("{base}/ix/_doc/never"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(missing["result"], "not_found");
    assert!(
        missing.get("error").is_none(),
        "ES sends no error object for a missing doc: {missing}"
    );
    let (status, not_found) = send(
        &client,
        reqwest::Method::GET,
        format!("{base}/ix/_doc/never"),
        None,
    )
    .await;
    assert_eq!((status, not_found["found"].as_bool()), (404, Some(false)));
}

#[tokio::test]
async fn write_block_gives_403_cluster_block_and_mapping_mismatch_gives_400() {
    let es = EsStandin::start().await.unwrap();
    let client = reqwest::Client::new();
    let base = es.url();
    send(&client, reqwest::Method::PUT, format!("{base}/ix"), Some(json!({"mappings": {"properties": {"rank_score": {"type": "double"}, "event_version": {"type": "long"}}}}))).await;
    let (status, bad) = send(
        &client,
        reqwest::Method::PUT,
        format!("{base}/ix/_doc/p"),
        Some(json!({"event_version": "not-a-number"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(bad["error"]["type"], "document_parsing_exception");

    let (status, _) = send(
        &client,
        reqwest::Method::PUT,
        format!("{base}/ix/_settings"),
        Some(json!({"index": {"blocks": {"write": true}}})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, blocked) = send(
        &client,
        reqwest::Method::PUT,
        format!("{base}/ix/_doc/q"),
        Some(json!({"text": "x"})),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(blocked["error"]["type"], "cluster_block_exception");
    send(
        &client,
        reqwest::Method::PUT,
        format!("{base}/ix/_settings"),
        Some(json!({"index.blocks.write": false})),
    )
    .await;
    let (status, _) = send(
        &client,
        reqwest::Method::PUT,
        format!("{base}/ix/_doc/q"),
        Some(json!({"text": "x"})),
    )
    .await;
    assert_eq!(status, 201);
    let (_, count) = send(
        &client,
        reqwest::Method::GET,
        format!("{base}/ix/_count"),
        None,
    )
    .await;
    assert_eq!(count["count"], 1);
    let (status, _) = send(
        &client,
        reqwest::Method::POST,
        format!("{base}/ix/_refresh"),
        None,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bulk_settles_each_item_and_flags_errors() {
    let es = EsStandin::start().await.unwrap();
    let client = reqwest::Client::new();
    let base = es.url();
    send(
        &client,
        reqwest::Method::PUT,
        format!("{base}/ix"),
        Some(json!({"mappings": {"properties": {"event_version": {"type": "long"}}}})),
    )
    .await;
    let body = [
        json!({"index": {"_index": "ix", "_id": "1", "version": 2, "version_type": "external"}}),
        json!({"text": "ok", "event_version": 2}),
        json!({"index": {"_index": "ix", "_id": "2", "version": 2, "version_type": "external"}}),
        json!({"text": "poison", "event_version": "two"}),
        json!({"delete": {"_index": "ix", "_id": "3", "version": 2, "version_type": "external"}}),
    ]
    .iter()
    .map(|line| line.to_string() + "\n")
    .collect::<String>();
    let response = client
        .post(format!("{base}/_bulk"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let result: Value = response.json().await.unwrap();
    assert_eq!(result["errors"], true);
    let items = result["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["index"]["status"], 201);
    assert_eq!(items[1]["index"]["status"], 400);
    assert_eq!(
        items[1]["index"]["error"]["type"],
        "document_parsing_exception"
    );
    assert_eq!(items[2]["delete"]["status"], 404);
    assert_eq!(items[2]["delete"]["result"], "not_found");
    assert!(items[2]["delete"].get("error").is_none());
}

#[tokio::test]
async fn injected_429_burst_then_recovery_and_restart_refuses_connections_while_stopped() {
    let es = EsStandin::start().await.unwrap();
    let client = reqwest::Client::new();
    let base = es.url();
    es.state.inject(429, 2);
    for _ in 0..2 {
        let (status, body) = send(
            &client,
            reqwest::Method::PUT,
            format!("{base}/ix/_doc/a"),
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 429);
        assert_eq!(body["error"]["type"], "es_rejected_execution_exception");
    }
    let (status, _) = send(
        &client,
        reqwest::Method::PUT,
        format!("{base}/ix/_doc/a"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201);

    es.server.stop();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let refused = client
        .get(&base)
        .send()
        .await
        .expect_err("stopped stand-in must refuse");
    assert!(refused.is_connect(), "{refused:?}");
    es.server.start().await.unwrap();
    let (status, doc) = send(
        &client,
        reqwest::Method::GET,
        format!("{base}/ix/_doc/a"),
        None,
    )
    .await;
    assert_eq!(
        (status, doc["found"].as_bool()),
        (200, Some(true)),
        "data survives a restart"
    );
}
