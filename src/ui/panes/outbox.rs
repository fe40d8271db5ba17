//! The outbox queue: counts by status, the oldest pending age, and this session's events.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{block, human_duration, short};
use crate::cockpit::engine::Snapshot;
use crate::ui::{App, Pane};

fn relative(app: &App, time: Option<chrono::DateTime<chrono::Utc>>) -> String {
    match time {
        None => "-".into(),
        Some(t) => {
            let seconds = (t - app.now).num_milliseconds() as f64 / 1000.0;
            if seconds >= 0.0 {
                format!("in {}", human_duration(seconds))
            } else {
                format!("{} ago", human_duration(-seconds))
            }
        }
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, snapshot: &Snapshot) {
    let theme = app.theme;
    let outer = block(" Outbox · search_outbox_events ".into(), Pane::Outbox, app);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let (summary, rows) = match &snapshot.outbox {
        None => {
            frame.render_widget(
                Paragraph::new(Line::styled(
                    super::nothing_yet(snapshot, "connecting to Postgres …", "outbox"),
                    theme.dim(),
                )),
                inner,
            );
            return;
        }
        Some(Err(error)) => {
            frame.render_widget(
                Paragraph::new(Line::styled(error.clone(), theme.error()))
                    .wrap(ratatui::widgets::Wrap { trim: true }),
                inner,
            );
            return;
        }
        Some(Ok(data)) => data,
    };
    let header = format!(
        "pending {} · processing {} · done {} · failed {} · oldest pending {}",
        summary.pending,
        summary.processing,
        summary.done,
        summary.failed,
        summary
            .oldest_pending_age_seconds
            .map(human_duration)
            .unwrap_or_else(|| "-".into())
    );
    let mut table_rows: Vec<Row> = vec![
        Row::new(vec![
            "event",
            "op",
            "status",
            "att",
            "next retry",
            "reason",
            "owner",
            "lease",
        ])
        .style(theme.dim()),
    ];
    for (index, row) in rows.iter().enumerate().rev() {
        let mut style = match row.status.as_str() {
            "done" => theme.good(),
            "failed" => theme.bad(),
            "processing" => theme.active(),
            _ => theme.warn(),
        };
        if app.focus == Pane::Outbox && index == app.outbox_selected {
            style = style.add_modifier(Modifier::REVERSED);
        }
        table_rows.push(
            Row::new(vec![
                Cell::from(short(&row.id.to_string())),
                Cell::from(row.op.clone()),
                Cell::from(row.status.clone()),
                Cell::from(row.attempts.to_string()),
                Cell::from(relative(app, row.next_retry_at)),
                Cell::from(row.error_reason.clone().unwrap_or_default()),
                Cell::from(row.owner.clone().unwrap_or_default()),
                Cell::from(relative(app, row.lease_until)),
            ])
            .style(style),
        );
    }

    let widths = [
        Constraint::Length(9),
        Constraint::Length(7),
        Constraint::Length(11),
        Constraint::Length(4),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(18),
        Constraint::Min(10),
    ];
    let layout = ratatui::layout::Layout::default()
        .direction(ratatui::layout::Direction::Vertical)
        .constraints([Constraint::Length(1), Constraint::Min(1)])
        .split(inner);
    frame.render_widget(Paragraph::new(header), layout[0]);
    if rows.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled(
                super::nothing_yet(
                    snapshot,
                    "no events inserted this session: press i (the drill's next event), d (delete) or u (upsert)",
                    "the drill's events",
                ),
                theme.dim(),
            )),
            layout[1],
        );
    } else {
        frame.render_widget(Table::new(table_rows, widths), layout[1]);
    }
}
