//! Scraping the worker's `/metrics`.

use std::time::Duration;

use crate::prom::{ParseError, Samples};

#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error(
        "cannot reach the worker's metrics at {url}: {message}. Is the worker running? Its port is OUTBOX_METRICS_PORT (worker.metrics_port)"
    )]
    Unreachable { url: String, message: String },
    #[error("{url} answered HTTP {status}; expected 200 with Prometheus text")]
    Status { url: String, status: u16 },
    #[error("{url}: {source}")]
    Parse { url: String, source: ParseError },
}

/// One scrape: the raw page (kept as evidence) and its samples.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub raw: String,
    pub samples: Samples,
}

pub fn metrics_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/metrics")
}

/// An error with its causes (`…: tcp connect error: Connection refused`): reqwest's own
/// text alone does not say why a request failed.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

pub fn client() -> reqwest::Client {
    crate::tls::http_builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_else(|_| crate::tls::http_client())
}

pub async fn scrape(http: &reqwest::Client, url: &str) -> Result<Scrape, ScrapeError> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| ScrapeError::Unreachable {
            url: url.into(),
            message: error_chain(&e),
        })?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(ScrapeError::Status {
            url: url.into(),
            status,
        });
    }
    let raw = response
        .text()
        .await
        .map_err(|e| ScrapeError::Unreachable {
            url: url.into(),
            message: e.to_string(),
        })?;
    let samples = Samples::parse(&raw).map_err(|source| ScrapeError::Parse {
        url: url.into(),
        source,
    })?;
    Ok(Scrape { raw, samples })
}
