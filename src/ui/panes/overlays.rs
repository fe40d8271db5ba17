//! Help (generated from the keymap), confirmations, the span tree, the filter prompt.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::traces;
use crate::cockpit::engine::Snapshot;
use crate::jaeger::SpanSummary;
use crate::ui::theme::Theme;
use crate::ui::{App, Confirm};

fn frame_block(title: &str, theme: Theme) -> Block<'static> {
    Block::default()
        .title(format!(" {title} "))
        .borders(Borders::ALL)
        .border_style(theme.border(true))
}

pub fn help(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme;
    let lines: Vec<Line> = app
        .keymap
        .bindings
        .iter()
        .map(|b| {
            Line::from(vec![
                Span::styled(format!("{:>10}  ", b.key.to_string()), theme.key()),
                Span::raw(b.label.clone()),
            ])
        })
        .chain([
            Line::raw(""),
            Line::styled(
                "keys are remapped in the [keys] table of the config file; any key closes this",
                theme.dim(),
            ),
        ])
        .collect();
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(frame_block("Help", theme)),
        area,
    );
}

/// The drill picker: every drill of the lab, the current one marked.
pub fn picker(frame: &mut Frame, area: Rect, selected: usize, snapshot: &Snapshot, theme: Theme) {
    let mut lines: Vec<Line> = crate::drill::scenario::RUNNABLE
        .iter()
        .enumerate()
        .map(|(n, drill)| {
            let current = drill.id == snapshot.scenario;
            let style = if n == selected {
                theme.selected()
            } else {
                ratatui::style::Style::default()
            };
            Line::from(vec![
                Span::styled(
                    format!(" {} {:<20} ", if current { "●" } else { " " }, drill.id),
                    style.add_modifier(Modifier::BOLD),
                ),
                Span::styled(format!(" {}", drill.title), style),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "↑/↓ choose · Enter: end this drill (fault out, last freeze) and start that one · Esc: stay",
        theme.dim(),
    ));
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(frame_block("Drills", theme)),
        area,
    );
}

pub fn confirm(
    frame: &mut Frame,
    area: Rect,
    kind: Confirm,
    snapshot: &Snapshot,
    now: chrono::DateTime<chrono::Utc>,
    theme: Theme,
) {
    let question = match kind {
        Confirm::StopEs => format!(
            "Stop `{}` of project `{}`? [y/N]",
            snapshot.es_service, snapshot.project
        ),
        Confirm::KillWorker => "Kill the worker with SIGKILL (no drain)? [y/N]".to_string(),
        Confirm::QuitWithEsStopped => format!(
            "`{}` is still stopped. Start it before quitting? [y/n, Esc: stay]",
            snapshot.es_service
        ),
        // Which checks, when the event retries, and the keys.
        Confirm::QuitWithPendingChecks => crate::ui::quit::pending_question(snapshot, now),
    };
    let title = match kind {
        Confirm::QuitWithPendingChecks => "Quit? Checks are still pending",
        _ => "Confirm",
    };
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(question)
            .wrap(Wrap { trim: true })
            .block(frame_block(title, theme)),
        area,
    );
}

pub fn filter_input(frame: &mut Frame, area: Rect, text: &str, theme: Theme) {
    frame.render_widget(Clear, area);
    let lines = vec![
        Line::raw(format!("/{text}▏")),
        Line::styled("Enter: apply · Esc: cancel · empty: no filter", theme.dim()),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(frame_block("Filter the log", theme)),
        area,
    );
}

pub fn marker_input(frame: &mut Frame, area: Rect, text: &str, theme: Theme) {
    frame.render_widget(Clear, area);
    let lines = vec![
        Line::raw(format!("✎ {text}▏")),
        Line::styled(
            "Enter: drop it on the timeline (journal, report, SVG) · Esc: cancel",
            theme.dim(),
        ),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(frame_block("Marker", theme)),
        area,
    );
}

/// Spans in tree order with their depth.
fn tree(spans: &[SpanSummary]) -> Vec<(usize, &SpanSummary)> {
    let mut ordered = Vec::new();
    let ids: Vec<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut roots: Vec<&SpanSummary> = spans
        .iter()
        .filter(|s| {
            s.parent_span_id
                .as_deref()
                .is_none_or(|p| !ids.contains(&p))
        })
        .collect();
    roots.sort_by_key(|s| s.start_us);
    fn visit<'a>(
        span: &'a SpanSummary,
        depth: usize,
        spans: &'a [SpanSummary],
        out: &mut Vec<(usize, &'a SpanSummary)>,
    ) {
        out.push((depth, span));
        let mut children: Vec<&SpanSummary> = spans
            .iter()
            .filter(|s| s.parent_span_id.as_deref() == Some(span.span_id.as_str()))
            .collect();
        children.sort_by_key(|s| s.start_us);
        for child in children {
            if out.len() < 10_000 {
                visit(child, depth + 1, spans, out);
            }
        }
    }
    for root in roots {
        visit(root, 0, spans, &mut ordered);
    }
    ordered
}

pub fn span_tree(frame: &mut Frame, area: Rect, app: &App, snapshot: &Snapshot, scroll: usize) {
    let theme = app.theme;
    let list = traces::list(snapshot);
    let Some(trace) = list.get(app.trace_selected.min(list.len().saturating_sub(1))) else {
        return;
    };
    let mut lines = vec![
        Line::styled(format!("trace {}", trace.trace_id), theme.strong()),
        Line::styled(
            format!(
                "Jaeger UI: {}",
                crate::jaeger::trace_link(&snapshot.jaeger_url, &trace.trace_id)
            ),
            theme.active(),
        ),
        Line::raw(""),
    ];
    for (depth, span) in tree(&trace.spans) {
        let indent = "  ".repeat(depth);
        let style = if span.error {
            theme.error()
        } else {
            theme.strong()
        };
        lines.push(Line::styled(
            format!(
                "{indent}{} · {:.1} ms{}",
                span.operation,
                span.duration_us as f64 / 1000.0,
                if span.error { " · ERROR" } else { "" }
            ),
            style,
        ));
        for (key, value) in &span.tags {
            lines.push(Line::styled(
                format!(
                    "{indent}    {key} = {}",
                    crate::sanitize::one_line(value, 200)
                ),
                theme.dim(),
            ));
        }
        for (_, fields) in &span.events {
            let text: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{k}={}", crate::sanitize::one_line(v, 120)))
                .collect();
            lines.push(Line::styled(
                format!("{indent}    event: {}", text.join(" ")),
                theme.warn(),
            ));
        }
    }
    let visible: Vec<Line> = lines.into_iter().skip(scroll).collect();
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(visible).block(frame_block(
            "Span tree · ↑↓ scroll · any other key closes",
            theme,
        )),
        area,
    );
}
