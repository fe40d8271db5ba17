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
            Row::new(vec![
                Cell::from(row.metric),
                Cell::from(row.labels.clone()),
                Cell::from(format!("{}", row.value)),
                Cell::from(format!("Δ{}", row.delta)).style(delta_style),
                Cell::from(sparkline(&row.history, 12)),
            ])
        })
        .collect();
    let gauges: Vec<String> = snapshot
        .counters
        .gauges
        .iter()
        .map(|(name, value)| format!("{name} {}", (value * 10.0).round() / 10.0))
        .collect();
    let footer = match &snapshot.metrics_error {
        Some(error) => Line::styled(format!("stale: {error}"), theme.error()),
        // Two workers: the sums above, each worker's own share here.
        None if !snapshot.per_worker.is_empty() => Line::raw(
            snapshot
                .per_worker
                .iter()
                .map(|(n, processed, failed, retried)| {
                    format!("w{n}: processed Δ{processed} failed Δ{failed} retry Δ{retried}")
                })
                .collect::<Vec<_>>()
                .join(" · "),
        ),
        None => Line::raw(gauges.join(" · ")),
    };
    let parts = ratatui::layout::Layout::default()
        .direction(ratatui::layout::Direction::Vertical)
        .constraints([Constraint::Min(1), Constraint::Length(1)])
        .split(inner);
    rows.truncate(parts[0].height as usize);
    let widths = [
        Constraint::Length(16),
        Constraint::Min(16),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(12),
    ];
    frame.render_widget(Table::new(rows, widths), parts[0]);
    frame.render_widget(Paragraph::new(footer), parts[1]);
}
