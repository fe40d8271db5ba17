//! Tracing to an OTLP/HTTP protobuf collector (Jaeger), only when
//! `WORDLOOM_TRACING_ENABLED=1`. The exporter runs on the batch processor's own thread
//! with a blocking client, so a collector that is down never slows processing; the
//! short schedule delay gets spans to Jaeger well within a second of their batch.

use std::time::Duration;

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};

use crate::config::Profile;

/// How long spans wait in the batch queue at most before export.
const EXPORT_DELAY: Duration = Duration::from_millis(200);

pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Installs the global tracer provider when tracing is enabled.
    /// Built on a plain thread: the blocking HTTP client must not be created on the async runtime.
    pub fn install(profile: &Profile) -> Result<Telemetry, String> {
        if !profile.tracing_enabled {
            return Ok(Telemetry { provider: None });
        }
        let endpoint = format!("{}/v1/traces", profile.otlp_endpoint);
        let service_name = profile.service_name.clone();
        let sampler = sampler_from(&profile.tracing_sampler);
        let provider = std::thread::spawn(move || -> Result<SdkTracerProvider, String> {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(endpoint.clone())
                .with_protocol(Protocol::HttpBinary)
                .with_timeout(Duration::from_secs(2))
                .build()
                .map_err(|e| format!("cannot build the OTLP exporter for {endpoint}: {e}"))?;
            let processor = BatchSpanProcessor::builder(exporter)
                .with_batch_config(
                    BatchConfigBuilder::default()
                        .with_scheduled_delay(EXPORT_DELAY)
                        .with_max_queue_size(65_536)
                        .with_max_export_batch_size(2_048)
                        .build(),
                )
                .build();
            Ok(SdkTracerProvider::builder()
                .with_span_processor(processor)
                .with_sampler(sampler)
                .with_resource(Resource::builder().with_service_name(service_name).build())
                .build())
        })
        .join()
        .map_err(|_| "the OTLP exporter set-up thread panicked".to_string())??;
        opentelemetry::global::set_tracer_provider(provider.clone());
        Ok(Telemetry {
            provider: Some(provider),
        })
    }

    pub fn enabled(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports what is queued and stops; bounded so a dead collector cannot hold up exit.
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            let _ = tokio::time::timeout(
                Duration::from_secs(3),
                tokio::task::spawn_blocking(move || {
                    let _ = provider.force_flush();
                    let _ = provider.shutdown();
                }),
            )
            .await;
        }
    }
}

/// `OTEL_TRACES_SAMPLER` as the OTel spec names it (`OTEL_TRACES_SAMPLER_ARG` for ratios).
fn sampler_from(name: &str) -> Sampler {
    let ratio = std::env::var("OTEL_TRACES_SAMPLER_ARG")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(1.0);
    match name.trim().to_ascii_lowercase().as_str() {
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatioBased(ratio),
        "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        "parentbased_traceidratio" => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
        "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        _ => Sampler::AlwaysOn,
    }
}

/// A W3C `traceparent` (`00-<trace>-<span>-<flags>`) as a remote span context, for a span link.
pub fn parse_traceparent(text: &str) -> Option<SpanContext> {
    let parts: Vec<&str> = text.trim().split('-').collect();
    let [version, trace, span, flags] = parts.as_slice() else {
        return None;
    };
    if *version != "00" || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_parses_and_rejects_garbage() {
        let context =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(
            context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(context.is_remote());
        assert!(
            parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none()
        );
        assert!(parse_traceparent("garbage").is_none());
    }
}
