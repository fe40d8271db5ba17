//! A restartable HTTP server for the test stand-ins. `stop()` closes the listening
//! socket and every open connection, so clients see "connection refused" exactly as
//! when a real container is stopped; `start()` binds the same port again. State lives
//! outside the server and survives the restart, like a container's volume.

use std::net::SocketAddr;
use std::sync::Mutex;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub struct RestartableServer {
    addr: SocketAddr,
    router: Router,
    running: Mutex<Option<JoinHandle<()>>>,
}

impl RestartableServer {
    /// Binds `addr` (port 0 picks a free port, which is then kept across restarts).
    pub async fn bind(addr: SocketAddr, router: Router) -> std::io::Result<RestartableServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let server = RestartableServer {
            addr,
            router,
            running: Mutex::new(None),
        };
        server.serve(listener);
        Ok(server)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn is_running(&self) -> bool {
        self.running
            .lock()
            .map(|slot| slot.is_some())
            .unwrap_or(false)
    }

    /// Closes the listener and all connections.
    pub fn stop(&self) {
        if let Ok(mut slot) = self.running.lock()
            && let Some(task) = slot.take()
        {
            task.abort();
        }
    }

    /// Binds the same port again. Retries briefly: the port may linger for a moment.
    pub async fn start(&self) -> std::io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let mut last_error = None;
        for _ in 0..50 {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    self.serve(listener);
                    return Ok(());
                }
                Err(error) => {
                    last_error = Some(error);
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }
        Err(last_error.unwrap_or_else(|| std::io::Error::other("bind failed")))
    }

    fn serve(&self, listener: TcpListener) {
        let router = self.router.clone();
        let task = tokio::spawn(async move {
            // Connections live in this set: aborting the accept task drops the set,
            // which aborts every connection with it.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        // Nagle's algorithm would add ~40 ms to every small response.
                        let _ = stream.set_nodelay(true);
                        let service = TowerToHyperService::new(router.clone());
                        connections.spawn(async move {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        if let Ok(mut slot) = self.running.lock() {
            *slot = Some(task);
        }
    }
}

impl Drop for RestartableServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `--listen ADDR:PORT` from the command line of a stand-in binary, else `default`.
pub fn listen_address(program: &str, default: &str) -> SocketAddr {
    let args: Vec<String> = std::env::args().collect();
    let text = args
        .windows(2)
        .find(|pair| pair[0] == "--listen")
        .map(|pair| pair[1].clone())
        .unwrap_or_else(|| default.to_string());
    text.parse().unwrap_or_else(|_| {
        eprintln!("{program}: --listen {text:?} is not ADDR:PORT; using {default}");
        default
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    })
}

/// Waits for Ctrl-C or SIGTERM (`docker stop`).
pub async fn wait_for_stop() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match terminate.as_mut() {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
