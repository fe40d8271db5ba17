//! Containers of the compose project (pushed by Docker's event stream), the worker
//! process, and the start-up steps with their failures and fixes.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{block, dim, error_style, human_duration};
use crate::cockpit::engine::{Snapshot, StepState};
use crate::sources::worker_proc::WorkerState;
use crate::ui::{App, Pane};

fn state_style(state: &str) -> Style {
    match state {
        "running" => Style::default().fg(Color::Green),
        "restarting" | "paused" | "created" => Style::default().fg(Color::Yellow),
        _ => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, snapshot: &Snapshot) {
    let mut lines = Vec::new();
    match &snapshot.containers {
        None if snapshot.engine.is_empty() => {
            lines.push(Line::styled("connecting to Docker …", dim()))
        }
        None => lines.push(Line::styled(
            format!("connecting to Docker at {} …", snapshot.engine),
            dim(),
        )),
        Some(Err(error)) => lines.push(Line::styled(format!("Docker: {error}"), error_style())),
        Some(Ok(services)) if services.is_empty() => {
            lines.push(Line::styled(
                format!("no containers in project `{}`", snapshot.project),
                error_style(),
            ));
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
                    Span::styled(format!("{:<9}", service.state), state_style(&service.state)),
                    Span::raw(format!(
                        "{:<10}",
                        service.health.clone().unwrap_or_default()
                    )),
                    Span::styled(detail, dim()),
                ]));
            }
        }
    }
    // Which engine these containers are on, and what chose it (an error names it itself).
    if matches!(snapshot.containers, Some(Ok(_))) && !snapshot.engine.is_empty() {
        lines.push(Line::from(vec![
            Span::raw(format!("{:<10}", "engine")),
            Span::styled(snapshot.engine.clone(), dim()),
        ]));
    }
    let (worker_state, worker_style) = worker_line(snapshot.worker.as_ref());
    lines.push(Line::from(vec![
        Span::raw(format!(
            "{:<10}",
            if two_workers(snapshot) {
                "worker 1"
            } else {
                "worker"
            }
        )),
        Span::styled(worker_state, worker_style),
        batch_size(snapshot),
    ]));
    if let Some((id, port, state)) = &snapshot.worker2 {
        let (state, style) = worker_line(Some(state));
        lines.push(Line::from(vec![
            Span::raw(format!("{:<10}", "worker 2")),
            Span::styled(state, style),
            Span::styled(format!("  · {id} · :{port}"), dim()),
        ]));
    }
    // Elasticsearch as the worker sees it: over HTTP, whatever runs it.
    match &snapshot.elastic {
        Some(Ok(answer)) => lines.push(Line::from(vec![
            Span::raw(format!("{:<10}", "es http")),
            Span::styled(
                format!("reachable ({answer})"),
                Style::default().fg(Color::Green),
            ),
        ])),
        Some(Err(error)) => lines.push(Line::from(vec![
            Span::raw(format!("{:<10}", "es http")),
            Span::styled(error.clone(), error_style()),
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
                error_style(),
            )),
            StepState::Running => lines.push(Line::styled(format!("… {}", step.name), dim())),
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

/// The claim size: what was passed, and what the worker says it uses once it logs it
/// (yellow when the two differ: the worker reads its settings another way).
fn batch_size(snapshot: &Snapshot) -> Span<'static> {
    let sent = snapshot.batch_sent;
    match snapshot.batch_reported {
        Some(reported) if reported == u64::from(sent) => {
            Span::styled(format!("  · batch {reported} (worker says)"), dim())
        }
        Some(reported) => Span::styled(
            format!("  · worker says batch {reported}, sent {sent}"),
            Style::default().fg(Color::Yellow),
        ),
        None => Span::styled(format!("  · batch {sent} sent"), dim()),
    }
}

/// Whether the drill runs two workers (worker 2 may not have started yet).
fn two_workers(snapshot: &Snapshot) -> bool {
    snapshot.worker2.is_some()
        || crate::drill::scenario::find(&snapshot.scenario).is_ok_and(|d| d.worker_count() == 2)
}

/// A worker's state in words and colour.
fn worker_line(state: Option<&WorkerState>) -> (String, Style) {
    match state {
        Some(WorkerState::Running { pid }) => (
            format!("running  pid {pid}"),
            Style::default().fg(Color::Green),
        ),
        Some(WorkerState::Exited { code, signal }) => (
            match (code, signal) {
                (Some(code), _) => format!("exited   code {code}"),
                (_, Some(signal)) => format!("killed   signal {signal}"),
                _ => "exited".into(),
            },
            error_style(),
        ),
        Some(WorkerState::FailedToStart { message }) => {
            (format!("not started: {message}"), error_style())
        }
        None => ("starting …".into(), dim()),
    }
}
