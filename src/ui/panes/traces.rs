//! Jaeger traces of the event under drill (by `wordloom.outbox_event_id`) and of its
//! claim batch (by `wordloom.claim_batch_id`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{block, short};
use crate::cockpit::engine::Snapshot;
use crate::jaeger::TraceSummary;
use crate::ui::theme::Theme;
use crate::ui::{App, Pane};

/// The selectable traces: event traces first, then batch traces.
pub fn list(snapshot: &Snapshot) -> Vec<&TraceSummary> {
    let event = snapshot
        .event_traces
        .iter()
        .flat_map(|r| r.iter().flatten());
    let batch = snapshot
        .batch_traces
        .iter()
        .flat_map(|r| r.iter().flatten());
    event.chain(batch).collect()
}

pub fn count(snapshot: &Snapshot) -> usize {
    list(snapshot).len()
}

fn row(trace: &TraceSummary, selected: bool, theme: Theme) -> Line<'static> {
    let start = chrono::DateTime::from_timestamp_micros(trace.start_us())
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_default();
    let process = trace.span("outbox.process");
    let batch = trace.span("projection.process_batch");
    let tag = |span: Option<&crate::jaeger::SpanSummary>, key: &str| {
        span.and_then(|s| s.tags.get(key))
            .cloned()
            .unwrap_or_default()
    };
    let result = tag(batch, "result");
    let reason = [tag(process, "reason"), tag(batch, "reason")]
        .into_iter()
        .find(|r| !r.is_empty() && r != "none")
        .unwrap_or_default();
    let attempt = tag(process, "wordloom.outbox_attempts");
    let mut style = if trace.failed() {
        theme.bad()
    } else {
        ratatui::style::Style::default()
    };
    if selected {
        style = style.add_modifier(Modifier::REVERSED);
    }
    Line::from(vec![Span::styled(
        format!(
            "{} {start} {:>8.1}ms {} result={result} reason={reason} attempt={attempt}",
            short(&trace.trace_id),
            trace.duration_us() as f64 / 1000.0,
            if trace.failed() { "ERR" } else { "ok " },
        ),
        style,
    )])
}

/// One pivot's search result: its rows (numbered on from `index`), or why there are none.
fn section(
    lines: &mut Vec<Line<'static>>,
    index: &mut usize,
    app: &App,
    result: &Option<Result<Vec<TraceSummary>, String>>,
    operation: &str,
) {
    let theme = app.theme;
    match result {
        None => lines.push(Line::styled("  searching …", theme.dim())),
        Some(Err(error)) => lines.push(Line::styled(format!("  {error}"), theme.error())),
        Some(Ok(traces)) if traces.is_empty() => lines.push(Line::styled(
            format!("  no {operation} span yet"),
            theme.dim(),
        )),
        Some(Ok(traces)) => {
            for trace in traces {
                lines.push(row(
                    trace,
                    app.focus == Pane::Traces && *index == app.trace_selected,
                    theme,
                ));
                *index += 1;
            }
        }
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, snapshot: &Snapshot) {
    let theme = app.theme;
    let mut lines = Vec::new();
    let mut index = 0;
    match &snapshot.event_id {
        None => {
            lines.push(Line::styled(
                super::nothing_yet(
                    snapshot,
                    "no event yet: press i (the drill's next event), d or u",
                    "the drill's event",
                ),
                theme.dim(),
            ));
            if let Some(error) = &snapshot.jaeger_error {
                lines.push(Line::styled(error.clone(), theme.error()));
            }
        }
        Some(event) => {
            lines.push(Line::styled(format!("event {event}"), theme.strong()));
            section(
                &mut lines,
                &mut index,
                app,
                &snapshot.event_traces,
                "outbox.process",
            );
            match (&snapshot.batch_id, &snapshot.batch_traces) {
                (None, _) => lines.push(Line::styled(
                    "batch: not known yet (from the event's span or the log)",
                    theme.dim(),
                )),
                (Some(batch), result) => {
                    lines.push(Line::styled(format!("batch {batch}"), theme.strong()));
                    section(
                        &mut lines,
                        &mut index,
                        app,
                        result,
                        "projection.process_batch",
                    );
                }
            }
        }
    }
    let title = format!(" Traces · {} · Enter: span tree ", snapshot.jaeger_url);
    frame.render_widget(
        // Wrapped: an error with its fix is longer than the pane is wide.
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(block(title, Pane::Traces, app)),
        area,
    );
}
