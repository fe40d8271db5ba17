//! Queries Jaeger for the two pivots of the contract. Speaks the legacy `/api`
//! (Jaeger 1.x and 2.x up to 2.20) and falls back to `/api/v3` (OTLP JSON, RFC 3339
//! time bounds) when the legacy search is gone, remembering which one answered.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use super::model::{TraceSummary, parse_traces};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Legacy,
    V3,
}

#[derive(Debug, thiserror::Error)]
pub enum JaegerError {
    #[error(
        "cannot reach Jaeger at {url}: {message}. Is it running? Start it with `docker compose -f docker-compose.infra.yml up -d jaeger`, or set jaeger.url"
    )]
    Unreachable { url: String, message: String },
    #[error("Jaeger answered {status} for {url}: {excerpt}")]
    Http {
        url: String,
        status: u16,
        excerpt: String,
    },
    #[error("Jaeger's answer from {url} is not what its API returns: {message}")]
    BadBody { url: String, message: String },
}

/// One search: an operation and tags that one span must all carry.
#[derive(Debug, Clone)]
pub struct TraceQuery {
    pub operation: String,
    pub tags: BTreeMap<String, String>,
    pub lookback: Duration,
    pub limit: u32,
}

/// A search's answer: the raw body (for the evidence) and the parsed traces.
#[derive(Debug, Clone)]
pub struct Found {
    pub api: Api,
    pub url: String,
    pub raw: Value,
    pub traces: Vec<TraceSummary>,
}

pub struct JaegerClient {
    http: reqwest::Client,
    base: String,
    service: String,
    api: Mutex<Option<Api>>,
}

impl JaegerClient {
    pub fn new(base: &str, service: &str) -> JaegerClient {
        let http = crate::tls::http_builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_else(|_| crate::tls::http_client());
        JaegerClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            service: service.to_string(),
            api: Mutex::new(None),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The Jaeger UI page of a trace.
    pub fn ui_link(&self, trace_id: &str) -> String {
        super::trace_link(&self.base, trace_id)
    }

    fn known_api(&self) -> Option<Api> {
        self.api.lock().ok().and_then(|api| *api)
    }

    fn remember(&self, api: Api) {
        if let Ok(mut slot) = self.api.lock() {
            *slot = Some(api);
        }
    }

    async fn get(
        &self,
        url: &str,
        query: &[(String, String)],
    ) -> Result<(u16, String), JaegerError> {
        let response =
            self.http
                .get(url)
                .query(query)
                .send()
                .await
                .map_err(|e| JaegerError::Unreachable {
                    url: self.base.clone(),
                    message: e.to_string(),
                })?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Ok((status, text))
    }

    fn json(&self, url: &str, text: &str) -> Result<Value, JaegerError> {
        serde_json::from_str(text).map_err(|e| JaegerError::BadBody {
            url: url.to_string(),
            message: format!(
                "{e} (body starts {:?})",
                text.chars().take(80).collect::<String>()
            ),
        })
    }

    pub async fn find(&self, query: &TraceQuery) -> Result<Found, JaegerError> {
        match self.known_api() {
            Some(Api::V3) => self.find_v3(query).await,
            Some(Api::Legacy) => self.find_legacy(query).await,
            None => match self.find_legacy(query).await {
                Err(JaegerError::Http { status: 404, .. }) => {
                    let found = self.find_v3(query).await?;
                    self.remember(Api::V3);
                    Ok(found)
                }
                other => {
                    if other.is_ok() {
                        self.remember(Api::Legacy);
                    }
                    other
                }
            },
        }
    }

    async fn find_legacy(&self, query: &TraceQuery) -> Result<Found, JaegerError> {
        let url = format!("{}/api/traces", self.base);
        let now = chrono::Utc::now();
        let start = now - chrono::Duration::from_std(query.lookback).unwrap_or_default();
        let tags = serde_json::to_string(&query.tags).unwrap_or_default();
        let params = vec![
            ("service".to_string(), self.service.clone()),
            ("operation".to_string(), query.operation.clone()),
            ("tags".to_string(), tags),
            // `lookback` is ignored by the server: the window is start/end in µs.
            ("start".to_string(), start.timestamp_micros().to_string()),
            ("end".to_string(), now.timestamp_micros().to_string()),
            ("limit".to_string(), query.limit.to_string()),
        ];
        let (status, text) = self.get(&url, &params).await?;
        self.found(Api::Legacy, url, status, &text)
    }

    /// A search's answer: 200 with traces, v3's 404 "nothing matched", or an error.
    fn found(&self, api: Api, url: String, status: u16, text: &str) -> Result<Found, JaegerError> {
        // v3 answers 404 with an error object when nothing matched: empty, not an error.
        let nothing_matched = api == Api::V3 && status == 404 && text.contains("\"error\"");
        if status != 200 && !nothing_matched {
            return Err(JaegerError::Http {
                url,
                status,
                excerpt: text.chars().take(200).collect(),
            });
        }
        let raw = self.json(&url, text)?;
        let traces = parse_traces(&raw).map_err(|e| JaegerError::BadBody {
            url: url.clone(),
            message: e.to_string(),
        })?;
        Ok(Found {
            api,
            url,
            raw,
            traces,
        })
    }

    async fn find_v3(&self, query: &TraceQuery) -> Result<Found, JaegerError> {
        let url = format!("{}/api/v3/traces", self.base);
        let now = chrono::Utc::now();
        let start = now - chrono::Duration::from_std(query.lookback).unwrap_or_default();
        let mut params = vec![
            ("query.service_name".to_string(), self.service.clone()),
            ("query.operation_name".to_string(), query.operation.clone()),
            ("query.start_time_min".to_string(), start.to_rfc3339()),
            ("query.start_time_max".to_string(), now.to_rfc3339()),
            ("query.search_depth".to_string(), query.limit.to_string()),
        ];
        for (key, value) in &query.tags {
            params.push((format!("query.attributes[{key}]"), value.clone()));
        }
        let (status, text) = self.get(&url, &params).await?;
        self.found(Api::V3, url, status, &text)
    }

    /// `/api/services` (or v3), raw, for the evidence.
    pub async fn services(&self) -> Result<Value, JaegerError> {
        let path = if self.known_api() == Some(Api::V3) {
            "/api/v3/services"
        } else {
            "/api/services"
        };
        let url = format!("{}{path}", self.base);
        self.get_json(url, &[]).await
    }

    /// The service's operations, raw, for the evidence.
    pub async fn operations(&self) -> Result<Value, JaegerError> {
        let (url, params) = if self.known_api() == Some(Api::V3) {
            (
                format!("{}/api/v3/operations", self.base),
                vec![("service".to_string(), self.service.clone())],
            )
        } else {
            (
                format!("{}/api/services/{}/operations", self.base, self.service),
                vec![],
            )
        };
        self.get_json(url, &params).await
    }

    /// A GET that must answer 200 with JSON.
    async fn get_json(
        &self,
        url: String,
        params: &[(String, String)],
    ) -> Result<Value, JaegerError> {
        let (status, text) = self.get(&url, params).await?;
        if status != 200 {
            return Err(JaegerError::Http {
                url,
                status,
                excerpt: text.chars().take(200).collect(),
            });
        }
        self.json(&url, &text)
    }
}

/// The contract's event pivot (CONTRACT.md §4).
pub fn event_query(event_id: &str, lookback: Duration) -> TraceQuery {
    TraceQuery {
        operation: "outbox.process".into(),
        tags: BTreeMap::from([
            ("wordloom.outbox_event_id".to_string(), event_id.to_string()),
            (
                "wordloom.obs_schema".to_string(),
                crate::worker::OBS_SCHEMA.to_string(),
            ),
        ]),
        lookback,
        limit: 20,
    }
}

/// The contract's batch pivot (CONTRACT.md §4).
pub fn batch_query(claim_batch_id: &str, lookback: Duration) -> TraceQuery {
    TraceQuery {
        operation: "projection.process_batch".into(),
        tags: BTreeMap::from([
            (
                "wordloom.claim_batch_id".to_string(),
                claim_batch_id.to_string(),
            ),
            (
                "wordloom.obs_schema".to_string(),
                crate::worker::OBS_SCHEMA.to_string(),
            ),
        ]),
        lookback,
        limit: 20,
    }
}
