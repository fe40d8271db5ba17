//! `drill-cockpit gate`: the fault gate as a fault proxy of its own, for drills run by
//! hand or by another tool (as one would run Toxiproxy's server). The same gate the
//! cockpit runs in process; its fault switched through the control API
//! ([`super::control`]) and every request written as a JSON line.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::gate::FaultGate;
use super::{Fault, control, line};

pub struct GateOptions {
    pub listen: SocketAddr,
    pub upstream: String,
    pub fault: Fault,
    pub control: Option<SocketAddr>,
    /// Where each request goes as a JSON line: `-` for stdout, else a file appended to.
    pub records: Option<PathBuf>,
    /// Threads serving connections; `None` is one per core.
    pub threads: Option<usize>,
}

/// How often recorded requests are written out: the request path only pushes into
/// memory; serialising and writing happen here, off it.
const RECORDS_FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Runs until Ctrl-C or SIGTERM; the last records are written before it returns.
pub async fn run(options: GateOptions) -> Result<(), String> {
    let mut sink = open_sink(options.records.as_ref())?;
    let gate = FaultGate::start_with_threads(options.listen, &options.upstream, options.threads)
        .await
        .map_err(|e| format!("the gate cannot listen on {}: {e}", options.listen))?;
    gate.set_fault(options.fault)
        .await
        .map_err(|e| format!("the gate cannot put its first fault in: {e}"))?;
    let gate = Arc::new(gate);
    let control = match options.control {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                format!("the control API cannot listen on {addr}: {e} (choose another --control address)")
            })?;
            let bound = listener.local_addr().map_err(|e| e.to_string())?;
            Some((bound, tokio::spawn(control::serve(listener, gate.clone()))))
        }
        None => None,
    };
    eprintln!(
        "drill-cockpit gate: {} → {} · fault: {} · control: {}",
        gate.url(),
        gate.upstream(),
        line::to_line(&gate.fault()),
        control
            .as_ref()
            .map(|(addr, _)| control::describe(*addr))
            .unwrap_or_else(|| "off (--control ADDR to switch faults at run time)".into()),
    );
    let mut next = 0u64;
    let mut ticker = tokio::time::interval(RECORDS_FLUSH_EVERY);
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = ticker.tick() => next = write_records(&gate, &mut sink, next)?,
            _ = &mut stop => break,
        }
    }
    next = write_records(&gate, &mut sink, next)?;
    if let Some((_, task)) = control {
        task.abort();
    }
    eprintln!("drill-cockpit gate: stopped after {next} requests");
    Ok(())
}

fn open_sink(records: Option<&PathBuf>) -> Result<Option<Box<dyn Write + Send>>, String> {
    match records {
        None => Ok(None),
        Some(path) if path.as_os_str() == "-" => Ok(Some(Box::new(std::io::stdout()))),
        Some(path) => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(|file| Some(Box::new(std::io::BufWriter::new(file)) as Box<dyn Write + Send>))
            .map_err(|e| {
                format!(
                    "cannot open the records file {}: {e} (give a writable path, or - for stdout)",
                    crate::sanitize::path(path)
                )
            }),
    }
}

/// Writes the records from `since` on; a gap (more than the gate keeps in memory went
/// by between two writes) is written as a line of its own, never silently skipped.
fn write_records(
    gate: &FaultGate,
    sink: &mut Option<Box<dyn Write + Send>>,
    since: u64,
) -> Result<u64, String> {
    let Some(out) = sink else {
        return Ok(gate.recorded());
    };
    let (records, next, missed) = gate.records_since(since);
    let failed = |e: std::io::Error| format!("cannot write the gate's records: {e}");
    if missed > 0 {
        writeln!(out, "{{\"missed_records\":{missed}}}").map_err(failed)?;
    }
    for record in records {
        if let Ok(json) = serde_json::to_string(&record) {
            writeln!(out, "{json}").map_err(failed)?;
        }
    }
    out.flush().map_err(failed)?;
    Ok(next)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
