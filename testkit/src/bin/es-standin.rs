//! Runs the Elasticsearch **test stand-in** as a process (also the entrypoint of the
//! locally built `drill-cockpit/es-standin` image). Not an Elasticsearch.
//! Usage: es-standin [--listen ADDR:PORT]   (default 0.0.0.0:9200)

use testkit::server::{listen_address, wait_for_stop};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let listen = listen_address("es-standin", "0.0.0.0:9200");
    match testkit::es::EsStandin::start_on(listen).await {
        Ok(standin) => {
            eprintln!(
                "es-standin (test stand-in for Elasticsearch) listening on {}",
                standin.server.addr()
            );
            wait_for_stop().await;
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("es-standin: cannot listen on {listen}: {error}");
            std::process::ExitCode::from(1)
        }
    }
}
