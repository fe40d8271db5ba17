//! Runs the Jaeger **test stand-in** as a process (OTLP/HTTP and the query API on one
//! port). Not a Jaeger. Usage: jaeger-standin [--listen ADDR:PORT] (default 0.0.0.0:16686)

use testkit::server::{listen_address, wait_for_stop};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let listen = listen_address("jaeger-standin", "0.0.0.0:16686");
    match testkit::jaeger::JaegerStandin::start_on(listen).await {
        Ok(standin) => {
            eprintln!(
                "jaeger-standin (test stand-in for Jaeger) listening on {}",
                standin.server.addr()
            );
            wait_for_stop().await;
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("jaeger-standin: cannot listen on {listen}: {error}");
            std::process::ExitCode::from(1)
        }
    }
}
