//! Contract counters by reason and op: value, Δ since the drill began, sparkline; and
//! the queue gauges.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::block;
use crate::cockpit::counters::sparkline;
use crate::cockpit::engine::Snapshot;
use crate::sources::worker_proc::WorkerState;
use crate::ui::{App, Pane};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, snapshot: &Snapshot) {
    let theme = app.theme;
    let title = format!(
        " Counters · Δ since drill start · {} ",
        snapshot.metrics_url
    );
    let outer = block(title, Pane::Counters, app);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    if let Some(error) = &snapshot.metrics_error
        && snapshot.counters.rows.is_empty()
    {
        frame.render_widget(
            Paragraph::new(Line::styled(error.clone(), theme.error()))
                .wrap(ratatui::widgets::Wrap { trim: true }),
            inner,
        );
        return;
    }
    // Narrow (80 columns): the numbers come first and the labels keep their values
    // only; the sparkline goes. A counter without its number says nothing.
    let narrow = inner.width < 56;
    let mut rows: Vec<Row> = snapshot
        .counters
        .rows
        .iter()
        .map(|row| {
            let delta_style = if row.delta > 0.0
                && matches!(row.metric, "failed" | "terminal_failed" | "retry_scheduled")
            {
                theme.warn()
            } else if row.delta > 0.0 {
                theme.good()
            } else {
                Style::default()
            };
            let value = Cell::from(format!("{}", row.value));
            let delta = Cell::from(format!("Δ{}", row.delta)).style(delta_style);
            if narrow {
                Row::new(vec![
                    Cell::from(narrow_name(row.metric, &row.labels)),
                    value,
                    delta,
                ])
            } else {
                Row::new(vec![
                    Cell::from(row.metric),
                    Cell::from(if inner.width < 80 {
                        label_values(&row.labels)
                    } else {
                        row.labels.clone()
                    }),
                    value,
                    delta,
                    Cell::from(sparkline(&row.history, 8)),
                ])
            }
        })
        .collect();
    let gauges: Vec<String> = snapshot
        .counters
        .gauges
        .iter()
        .map(|(name, value)| format!("{name} {}", (value * 10.0).round() / 10.0))
        .collect();
    let footer: Vec<Line> = match &snapshot.metrics_error {
        Some(error) => vec![Line::styled(format!("stale: {error}"), theme.error())],
        // A fleet: the sums above, each worker's share in compact rows below.
        None if snapshot.per_worker.len() > 2 => fleet_rows(snapshot, inner.width),
        // Two workers: the sums above, each worker's own share here, a line each.
        None if !snapshot.per_worker.is_empty() => snapshot
            .per_worker
            .iter()
            .map(|(n, processed, failed, retried)| {
                Line::raw(format!(
                    "w{n}: processed Δ{processed} failed Δ{failed} retry Δ{retried}"
                ))
            })
            .collect(),
        None => vec![Line::raw(gauges.join(" · "))],
    };
    let parts = ratatui::layout::Layout::default()
        .direction(ratatui::layout::Direction::Vertical)
        .constraints([Constraint::Min(1), Constraint::Length(footer.len() as u16)])
        .split(inner);
    rows.truncate(parts[0].height as usize);
    let table = if narrow {
        Table::new(
            rows,
            [
                Constraint::Min(10),
                Constraint::Length(5),
                Constraint::Length(5),
            ],
        )
    } else {
        Table::new(
            rows,
            [
                Constraint::Length(16),
                Constraint::Min(16),
                Constraint::Length(6),
                Constraint::Length(6),
                Constraint::Length(8),
            ],
        )
    };
    frame.render_widget(table, parts[0]);
    frame.render_widget(Paragraph::new(footer), parts[1]);
}

/// Whether worker `n` runs now (worker 1, worker 2, or a replica).
fn worker_up(snapshot: &Snapshot, n: usize) -> bool {
    let running = |state: Option<&WorkerState>| matches!(state, Some(WorkerState::Running { .. }));
    match n {
        1 => running(snapshot.worker.as_ref()),
        _ => match snapshot.replicas.iter().find(|r| r.0 == n) {
            Some(replica) => running(Some(&replica.3)),
            None => running(snapshot.worker2.as_ref().map(|w| &w.2)),
        },
    }
}

/// A fleet's share per worker, as many to a line as the pane's width takes:
/// `w3 up p12 r1 f0` (processed, retries, failed: Δ since its own baseline).
fn fleet_rows(snapshot: &Snapshot, width: u16) -> Vec<Line<'static>> {
    let cells: Vec<String> = snapshot
        .per_worker
        .iter()
        .map(|(n, processed, failed, retried)| {
            let up = if worker_up(snapshot, *n) {
                "up"
            } else {
                "down"
            };
            format!("w{n} {up} p{processed} r{retried} f{failed}")
        })
        .collect();
    let cell_width = cells.iter().map(|c| c.len()).max().unwrap_or(1) + 2;
    let per_line = (usize::from(width) / cell_width).max(1);
    cells
        .chunks(per_line)
        .map(|chunk| {
            Line::raw(
                chunk
                    .iter()
                    .map(|c| format!("{c:<cell_width$}"))
                    .collect::<String>()
                    .trim_end()
                    .to_string(),
            )
        })
        .collect()
}

/// `retry_scheduled` with `reason=es_connect op=delete` → `retry es_connect delete`:
/// what tells two rows apart, in the room a narrow pane has.
fn narrow_name(metric: &str, labels: &str) -> String {
    let short = match metric {
        "retry_scheduled" => "retry",
        "terminal_failed" => "terminal",
        "processed" => "done",
        other => other,
    };
    format!("{short} {}", label_values(labels))
        .trim_end()
        .to_string()
}

/// `reason=es_connect op=delete` → `es_connect delete` (the keys are the same on every row).
fn label_values(labels: &str) -> String {
    labels
        .split_whitespace()
        .map(|pair| pair.split_once('=').map_or(pair, |(_, value)| value))
        .collect::<Vec<_>>()
        .join(" ")
}
