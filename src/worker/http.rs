//! The worker's two HTTP ports: Prometheus `/metrics`, and `/healthz` (alive) plus
//! `/readyz` (database reachable).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use sqlx::PgPool;
use tokio::net::TcpListener;

use super::metrics::Metrics;

#[derive(Clone)]
struct Shared {
    metrics: Arc<Metrics>,
    pool: PgPool,
}

/// Binds a port on 127.0.0.1, naming the setting to change when it is taken.
pub async fn bind(port: u16, setting: &str) -> Result<TcpListener, String> {
    TcpListener::bind(("127.0.0.1", port)).await.map_err(|error| {
        format!("cannot listen on 127.0.0.1:{port}: {error}. Another worker may hold it; stop it or set {setting} to a free port")
    })
}

pub fn serve(
    metrics_listener: TcpListener,
    health_listener: Option<TcpListener>,
    metrics: Arc<Metrics>,
    pool: PgPool,
) {
    let shared = Shared { metrics, pool };
    let metrics_routes = Router::new().route("/metrics", get(render_metrics));
    let health_routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    match health_listener {
        Some(health_listener) => {
            tokio::spawn(serve_one(
                metrics_listener,
                metrics_routes.with_state(shared.clone()),
            ));
            tokio::spawn(serve_one(health_listener, health_routes.with_state(shared)));
        }
        // Same port for both: one server answers all three paths.
        None => {
            tokio::spawn(serve_one(
                metrics_listener,
                metrics_routes.merge(health_routes).with_state(shared),
            ));
        }
    }
}

async fn serve_one(listener: TcpListener, router: Router) {
    let _ = axum::serve(listener, router).await;
}

async fn render_metrics(State(shared): State<Shared>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared.metrics.render(),
    )
}

async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

async fn readyz(State(shared): State<Shared>) -> impl IntoResponse {
    let probe = tokio::time::timeout(
        Duration::from_secs(1),
        sqlx::query("SELECT 1").execute(&shared.pool),
    )
    .await;
    match probe {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n".to_string()),
        Ok(Err(error)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database unavailable: {error}\n"),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database did not answer within 1 s\n".to_string(),
        ),
    }
}
