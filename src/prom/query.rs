//! Prometheus's HTTP API as the cockpit asks it: instant queries (`/api/v1/query`)
//! whose answers are kept whole (a run records each query and what came back) and
//! read as series of samples. Only `vector` and `matrix` answers are read: the
//! queries of [`super::ledger`] ask for nothing else.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

/// One series of an answer: its labels (`__name__` included) and its samples as
/// (unix seconds, value), oldest first. A `vector` answer has one sample per series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub samples: Vec<(f64, f64)>,
}

/// A query, when it was asked for, and Prometheus's answer as it came.
#[derive(Debug, Clone)]
pub struct Answered {
    pub query: String,
    /// The evaluation time (unix seconds) sent with the query.
    pub time: f64,
    pub raw: Value,
    pub series: Vec<Series>,
}

impl Answered {
    /// What a run keeps of it (`_metrics/promql-<ts>.json`).
    pub fn record(&self) -> Value {
        json!({"query": self.query, "time": self.time, "answer": self.raw})
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(
        "cannot reach Prometheus at {url}: {message}. Is it running? Its address is metrics.prometheus_url"
    )]
    Unreachable { url: String, message: String },
    #[error(
        "Prometheus at {url} refused the query {query:?} (HTTP {status}): {error}; check metrics.prometheus_selector"
    )]
    Refused {
        url: String,
        query: String,
        status: u16,
        error: String,
    },
    #[error(
        "{url} did not answer like Prometheus's /api/v1/query ({why}); is metrics.prometheus_url a Prometheus server?"
    )]
    NotPrometheus { url: String, why: String },
}

/// A Prometheus server's query API.
#[derive(Debug, Clone)]
pub struct PromClient {
    http: reqwest::Client,
    /// Its base URL, without a trailing slash (`http://127.0.0.1:9090`).
    pub url: String,
}

impl PromClient {
    pub fn new(url: &str) -> PromClient {
        let http = crate::tls::http_builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_else(|_| crate::tls::http_client());
        PromClient {
            http,
            url: url.trim_end_matches('/').to_string(),
        }
    }

    /// An instant query evaluated at `time` (unix seconds).
    pub async fn instant(&self, query: &str, time: f64) -> Result<Answered, QueryError> {
        let endpoint = format!("{}/api/v1/query", self.url);
        let response = self
            .http
            .get(&endpoint)
            .query(&[("query", query), ("time", &format!("{time:.3}"))])
            .send()
            .await
            .map_err(|e| QueryError::Unreachable {
                url: self.url.clone(),
                message: crate::sources::metrics::error_chain(&e),
            })?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|e| QueryError::Unreachable {
            url: self.url.clone(),
            message: e.to_string(),
        })?;
        let raw: Value = serde_json::from_str(&body).map_err(|e| QueryError::NotPrometheus {
            url: self.url.clone(),
            why: format!("HTTP {status}, not JSON: {e}"),
        })?;
        if raw["status"] != "success" {
            return Err(QueryError::Refused {
                url: self.url.clone(),
                query: query.to_string(),
                status,
                error: raw["error"]
                    .as_str()
                    .unwrap_or("no error given")
                    .to_string(),
            });
        }
        let series = parse_result(&raw["data"]).map_err(|why| QueryError::NotPrometheus {
            url: self.url.clone(),
            why,
        })?;
        Ok(Answered {
            query: query.to_string(),
            time,
            raw,
            series,
        })
    }
}

/// The series of a `data` object (`resultType` vector or matrix).
pub fn parse_result(data: &Value) -> Result<Vec<Series>, String> {
    let kind = data["resultType"].as_str().unwrap_or("");
    let key = match kind {
        "vector" => "value",
        "matrix" => "values",
        other => return Err(format!("resultType {other:?}, expected vector or matrix")),
    };
    let Some(result) = data["result"].as_array() else {
        return Err("no result array".into());
    };
    result
        .iter()
        .map(|item| {
            let labels = item["metric"]
                .as_object()
                .ok_or("a result without its metric labels")?
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            let points = match kind {
                "vector" => vec![&item[key]],
                _ => item[key]
                    .as_array()
                    .ok_or("a matrix series without values")?
                    .iter()
                    .collect(),
            };
            let samples = points
                .into_iter()
                .map(point)
                .collect::<Result<Vec<_>, String>>()?;
            Ok(Series { labels, samples })
        })
        .collect()
}

/// `[1700000000.123, "4"]`: Prometheus sends values as strings (`NaN`, `+Inf` too).
fn point(value: &Value) -> Result<(f64, f64), String> {
    let at = value[0]
        .as_f64()
        .ok_or_else(|| format!("a sample without its time: {value}"))?;
    let text = value[1]
        .as_str()
        .ok_or_else(|| format!("a sample without its value: {value}"))?;
    let number = match text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other
            .parse::<f64>()
            .map_err(|_| format!("a sample value {other:?} is not a number"))?,
    };
    Ok((at, number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_and_matrix_answers_read_as_series() {
        let vector = json!({"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "instance": "127.0.0.1:9"}, "value": [1700000000.5, "1"]}
        ]});
        let series = parse_result(&vector).unwrap();
        assert_eq!(series[0].labels["instance"], "127.0.0.1:9");
        assert_eq!(series[0].samples, vec![(1700000000.5, 1.0)]);
        let matrix = json!({"resultType": "matrix", "result": [
            {"metric": {"__name__": "m_total"}, "values": [[1.0, "0"], [2.0, "+Inf"]]}
        ]});
        let series = parse_result(&matrix).unwrap();
        assert_eq!(series[0].samples, vec![(1.0, 0.0), (2.0, f64::INFINITY)]);
    }

    #[test]
    fn other_answers_say_what_they_are() {
        let scalar = json!({"resultType": "scalar", "result": [1.0, "2"]});
        assert!(parse_result(&scalar).unwrap_err().contains("scalar"));
        let bad = json!({"resultType": "vector", "result": [{"metric": {}, "value": [1.0, "x"]}]});
        assert!(parse_result(&bad).unwrap_err().contains("\"x\""));
    }
}
