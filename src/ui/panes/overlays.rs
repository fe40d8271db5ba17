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

/// Every binding, keys of one action on one line (`Down / j`), scrolled by `scroll`;
/// the title says which lines show and how to see the rest.
pub fn help(frame: &mut Frame, area: Rect, app: &App, scroll: usize) {
    let theme = app.theme;
    let mut entries: Vec<(Vec<String>, &str)> = Vec::new();
    for binding in &app.keymap.bindings {
        match entries
            .iter_mut()
            .find(|(_, label)| *label == binding.label)
        {
            Some((keys, _)) => keys.push(binding.key.to_string()),
            None => entries.push((vec![binding.key.to_string()], binding.label.as_str())),
        }
    }
    let mut lines: Vec<Line> = entries
        .iter()
        .map(|(keys, label)| {
            Line::from(vec![
                Span::styled(format!("{:>12}  ", keys.join(" / ")), theme.key()),
                Span::raw(label.to_string()),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "keys are remapped in the [keys] table of the config file",
        theme.dim(),
    ));
    let visible = area.height.saturating_sub(2) as usize;
    let first = scroll.min(lines.len().saturating_sub(visible));
    let title = if lines.len() > visible {
        format!(
            "Help · {}–{} of {} · ↑/↓ j/k PgUp/PgDn scroll · any other key closes",
            first + 1,
            (first + visible).min(lines.len()),
            lines.len()
        )
    } else {
        "Help · any key closes".to_string()
    };
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines.split_off(first)).block(frame_block(&title, theme)),
        area,
    );
}

/// The drill picker: every drill of the lab, the current one marked.
pub fn picker(frame: &mut Frame, area: Rect, selected: usize, snapshot: &Snapshot, theme: Theme) {
    let mut lines: Vec<Line> = crate::drill::scenario::all()
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
                    format!(
                        " {} {} {:<20} ",
                        crate::ui::picker_letter(n),
                        if current { "●" } else { " " },
                        drill.id
                    ),
                    style.add_modifier(Modifier::BOLD),
                ),
                Span::styled(format!(" {}", drill.title), style),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "A–I or ↑/↓ choose · Enter: end this drill (fault out, last freeze) and start that one · Esc: stay",
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

/// A span's bar in `width` cells: where it starts and how long it lasts, relative to
/// the trace (`offset_us` from the trace's start, of `total_us`); at least one cell.
pub fn timing_bar(offset_us: i64, duration_us: i64, total_us: i64, width: usize) -> String {
    if width == 0 {
        return String::new();
    }
    let total = total_us.max(1) as f64;
    let cell = |us: i64| ((us.max(0) as f64 / total) * width as f64).round() as usize;
    let start = cell(offset_us).min(width - 1);
    let end = cell(offset_us + duration_us.max(0)).clamp(start + 1, width);
    format!(
        "{}{}{}",
        " ".repeat(start),
        "█".repeat(end - start),
        " ".repeat(width - end)
    )
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
    // Jaeger's timeline: each span's bar placed and sized on the trace's own span.
    let trace_start = trace.spans.iter().map(|s| s.start_us).min().unwrap_or(0);
    let trace_end = trace
        .spans
        .iter()
        .map(|s| s.start_us + s.duration_us.max(0))
        .max()
        .unwrap_or(trace_start);
    let inner_width = area.width.saturating_sub(2) as usize;
    let bar_width = (inner_width / 3).clamp(10, 60);
    let label_width = inner_width.saturating_sub(bar_width + 14).max(12);
    lines.push(Line::styled(
        format!(
            "{:label_width$} {:<half$}{:>rest$}",
            "",
            "0 ms",
            format!("{:.1} ms", (trace_end - trace_start) as f64 / 1000.0),
            half = bar_width / 2,
            rest = bar_width - bar_width / 2,
        ),
        theme.dim(),
    ));
    for (depth, span) in tree(&trace.spans) {
        let indent = "  ".repeat(depth);
        let style = if span.error {
            theme.error()
        } else {
            theme.strong()
        };
        let label = format!(
            "{indent}{}{}",
            span.operation,
            if span.error { " · ERROR" } else { "" }
        );
        let label: String = label.chars().take(label_width).collect();
        lines.push(Line::from(vec![
            Span::styled(format!("{label:label_width$} "), style),
            Span::styled(
                timing_bar(
                    span.start_us - trace_start,
                    span.duration_us,
                    trace_end - trace_start,
                    bar_width,
                ),
                if span.error { theme.bad() } else { theme.key() },
            ),
            Span::styled(
                format!(" {:>9.1} ms", span.duration_us as f64 / 1000.0),
                style,
            ),
        ]));
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

#[cfg(test)]
mod tests {
    use super::timing_bar;

    #[test]
    fn a_bar_is_placed_and_sized_on_the_traces_span() {
        assert_eq!(timing_bar(0, 1000, 1000, 10), "██████████");
        assert_eq!(timing_bar(500, 500, 1000, 10), "     █████");
        assert_eq!(timing_bar(0, 100, 1000, 10), "█         ");
        // Too short to see still shows, and never past the end.
        assert_eq!(timing_bar(999, 1, 1000, 10), "         █");
        assert_eq!(timing_bar(0, 0, 0, 4), "█   ");
        assert_eq!(timing_bar(-5, 2000, 1000, 4), "████");
        assert_eq!(timing_bar(0, 10, 10, 0), "");
    }
}
