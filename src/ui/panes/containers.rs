//! Containers of the compose project (pushed by Docker's event stream), the worker
//! process, and the start-up steps with their failures and fixes.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{block, human_duration};
use crate::cockpit::engine::{Snapshot, StepState};
use crate::sources::worker_proc::WorkerState;
use crate::ui::theme::Theme;
use crate::ui::{App, Pane};

fn state_style(state: &str, theme: Theme) -> Style {
    match state {
        "running" => theme.good(),
        "restarting" | "paused" | "created" => theme.warn(),
        // Not ours to run (the sandbox's given database): neither good nor bad.
        "external" => Style::default(),
        _ => theme.error(),
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, snapshot: &Snapshot) {
    let theme = app.theme;
    let mut lines = Vec::new();
    // Narrow (80 columns): one row per thing, the details a zoom (`z`) shows dropped.
    let narrow = area.width < 40;
    // The worker first: it is what the drill watches, and a short pane keeps it.
    let (worker_state, worker_style) = match (&snapshot.worker, snapshot.cursor) {
        (None, Some(_)) => ("not recorded".to_string(), theme.dim()),
        (worker, _) => worker_line(worker.as_ref(), theme),
    };
    let two = two_workers(snapshot);
    if narrow {
        lines.push(Line::from(vec![
            Span::raw(format!("{:<7}", if two { "w1" } else { "worker" })),
            Span::styled(worker_state.replace("  ", " "), worker_style),
        ]));
    } else {
        lines.push(Line::from(vec![
            Span::raw(format!("{:<10}", if two { "worker 1" } else { "worker" })),
            Span::styled(worker_state, worker_style),
            // The claim size matters once a worker claims; beside a failure it is noise.
            if matches!(snapshot.worker, Some(WorkerState::Running { .. })) {
                batch_size(snapshot, theme)
            } else {
                Span::raw("")
            },
        ]));
    }
    if let Some((id, port, state)) = &snapshot.worker2 {
        let (state, style) = worker_line(Some(state), theme);
        lines.push(if narrow {
            Line::from(vec![
                Span::raw(format!("{:<7}", "w2")),
                Span::styled(state.replace("  ", " "), style),
            ])
        } else {
            Line::from(vec![
                Span::raw(format!("{:<10}", "worker 2")),
                Span::styled(state, style),
                Span::styled(format!("  · {id} · :{port}"), theme.dim()),
            ])
        });
    }
    // The rest of the fleet, a line each (`--replicas N`).
    for (n, id, port, state) in &snapshot.replicas {
        let (state, style) = worker_line(Some(state), theme);
        lines.push(if narrow {
            Line::from(vec![
                Span::raw(format!("{:<7}", format!("w{n}"))),
                Span::styled(state.replace("  ", " "), style),
            ])
        } else {
            Line::from(vec![
                Span::raw(format!("{:<10}", format!("worker {n}"))),
                Span::styled(state, style),
                Span::styled(format!("  · {id} · :{port}"), theme.dim()),
            ])
        });
    }
    match &snapshot.containers {
        None if snapshot.engine.is_empty() || snapshot.cursor.is_some() => {
            lines.push(Line::styled(
                super::nothing_yet(snapshot, "connecting to Docker …", "containers"),
                theme.dim(),
            ))
        }
        None => lines.push(Line::styled(
            format!("connecting to Docker at {} …", snapshot.engine),
            theme.dim(),
        )),
        Some(Err(error)) => lines.push(Line::styled(format!("Docker: {error}"), theme.error())),
        Some(Ok(services)) if services.is_empty() => {
            lines.push(Line::styled(
                format!("no containers in project `{}`", snapshot.project),
                theme.error(),
            ));
        }
        Some(Ok(services)) if narrow => {
            for service in services {
                lines.push(narrow_service_line(service, theme));
            }
        }
        Some(Ok(services)) => {
            for service in services {
                let detail = match (&service.started_at, service.exit_code) {
                    (Some(started), _) => chrono::DateTime::parse_from_rfc3339(started)
                        .map(|t| {
                            format!(
                                "up {}",
                                human_duration(
                                    (app.now - t.with_timezone(&chrono::Utc)).num_milliseconds()
                                        as f64
                                        / 1000.0
                                )
                            )
                        })
                        .unwrap_or_default(),
                    (None, Some(code)) => format!("exit {code}"),
                    (None, None) => String::new(),
                };
                lines.push(Line::from(vec![
                    Span::raw(format!("{:<10}", service.service)),
                    Span::styled(
                        format!("{:<9}", service.state),
                        state_style(&service.state, theme),
                    ),
                    Span::raw(format!(
                        "{:<10}",
                        service.health.clone().unwrap_or_default()
                    )),
                    Span::styled(detail, theme.dim()),
                ]));
            }
        }
    }
    // Which engine these containers are on, and what chose it (an error names it itself).
    if matches!(snapshot.containers, Some(Ok(_))) && !snapshot.engine.is_empty() {
        lines.push(Line::from(vec![
            Span::raw(format!("{:<10}", "engine")),
            Span::styled(snapshot.engine.clone(), theme.dim()),
        ]));
    }
    // Elasticsearch as the worker sees it: over HTTP, whatever runs it.
    match &snapshot.elastic {
        Some(Ok(answer)) => lines.push(Line::from(vec![
            Span::raw(format!("{:<10}", "es http")),
            Span::styled(format!("reachable ({answer})"), theme.good()),
        ])),
        Some(Err(error)) => lines.push(Line::from(vec![
            Span::raw(format!("{:<10}", "es http")),
            Span::styled(error.clone(), theme.error()),
        ])),
        None => {}
    }
    let docker_failed = matches!(snapshot.containers, Some(Err(_)));
    for step in &snapshot.setup {
        // Shown where they belong: Docker's above, the database's in the outbox pane.
        if (step.name == "docker" && docker_failed) || step.name == "database" {
            continue;
        }
        match &step.state {
            StepState::Failed(error) => lines.push(Line::styled(
                format!("✗ {}: {error}", step.name),
                theme.error(),
            )),
            StepState::Running => lines.push(Line::styled(format!("… {}", step.name), theme.dim())),
            StepState::Done(_) => {}
        }
    }
    let widget = Paragraph::new(lines).wrap(Wrap { trim: true }).block(block(
        format!(" Containers · {} ", snapshot.project),
        Pane::Containers,
        app,
    ));
    frame.render_widget(widget, area);
}

/// `es       exited 143`, `jaeger   running`, `postgres running unhealthy`: a service
/// in one narrow row (uptime and a healthy health are for the wide pane).
fn narrow_service_line(service: &crate::docker::ServiceState, theme: Theme) -> Line<'static> {
    let mut state = service.state.clone();
    if let (None, Some(code)) = (&service.started_at, service.exit_code) {
        state.push_str(&format!(" {code}"));
    }
    if let Some(health) = service.health.as_deref().filter(|h| *h != "healthy") {
        state.push_str(&format!(" {health}"));
    }
    Line::from(vec![
        Span::raw(format!("{:<9}", service.service)),
        Span::styled(state, state_style(&service.state, theme)),
    ])
}

/// The claim size: what was passed, and what the worker says it uses once it logs it
/// (yellow when the two differ: the worker reads its settings another way).
fn batch_size(snapshot: &Snapshot, theme: Theme) -> Span<'static> {
    let sent = snapshot.batch_sent;
    match snapshot.batch_reported {
        Some(reported) if reported == u64::from(sent) => {
            Span::styled(format!("  · batch {reported}"), theme.dim())
        }
        Some(reported) => Span::styled(
            format!("  · worker says batch {reported}, sent {sent}"),
            theme.warn(),
        ),
        None => Span::styled(format!("  · batch {sent} sent"), theme.dim()),
    }
}

/// Whether the drill runs two workers (worker 2 may not have started yet).
fn two_workers(snapshot: &Snapshot) -> bool {
    snapshot.worker2.is_some()
        || !snapshot.replicas.is_empty()
        || crate::drill::scenario::find(&snapshot.scenario).is_ok_and(|d| d.worker_count() == 2)
}

/// A worker's state in words and colour.
fn worker_line(state: Option<&WorkerState>, theme: Theme) -> (String, Style) {
    match state {
        Some(WorkerState::Running { pid }) => (format!("running  pid {pid}"), theme.good()),
        Some(WorkerState::Exited { code, signal }) => (
            match (code, signal) {
                (Some(code), _) => format!("exited   code {code}"),
                (_, Some(signal)) => format!("killed   signal {signal}"),
                _ => "exited".into(),
            },
            theme.error(),
        ),
        Some(WorkerState::FailedToStart { message }) => {
            (format!("not started: {message}"), theme.error())
        }
        None => ("starting …".into(), theme.dim()),
    }
}
