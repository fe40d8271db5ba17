//! The worker's log tail: compact JSON, highlighted schema marker and matches.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::block;
use crate::cockpit::engine::Snapshot;
use crate::sources::worker_proc::LogTail;
use crate::ui::{App, Pane};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, snapshot: &Snapshot, tail: &LogTail) {
    let theme = app.theme;
    let height = area.height.saturating_sub(2) as usize;
    let shown = app.log.visible(tail, height);
    // Enter opens the trace of the lowest line on screen that names one: underlined
    // while the pane has the focus, so the user sees which one it is.
    let target = shown.iter().rposition(|line| line.trace_id.is_some());
    app.log
        .drawn_trace
        .replace(target.and_then(|at| shown[at].trace_id.clone()));
    let focused = app.focus == Pane::Log;
    // Each worker of a fleet its own colour: a glance says whose lines these are.
    let own = theme.worker(usize::from(app.log_worker));
    let mut lines: Vec<Line> = shown
        .iter()
        .enumerate()
        .map(|(at, line)| {
            let mut style = match line.level.as_deref() {
                Some("ERROR" | "CRITICAL") => theme.bad(),
                Some("WARNING") => theme.warn(),
                Some("DEBUG") => theme.dim(),
                _ => own,
            };
            if line.is_marker {
                style = theme.landmark();
            }
            if line.is_match {
                style = style.patch(theme.matched());
            }
            if line.is_gap {
                style = theme.dim();
            }
            if focused && Some(at) == target {
                style = style.add_modifier(Modifier::UNDERLINED);
            }
            Line::styled(line.text.clone(), style)
        })
        .collect();
    if lines.is_empty() {
        lines.push(Line::styled(
            if tail.total > 0 && !app.log.filter.is_empty() {
                format!(
                    "no line of the {} in the tail matches \"{}\" (Esc clears the filter)",
                    tail.lines.len(),
                    crate::sanitize::one_line(&app.log.filter, 60)
                )
            } else {
                super::nothing_yet(
                    snapshot,
                    &format!("no output yet from `{}`", snapshot.worker_command),
                    "worker log",
                )
            },
            theme.dim(),
        ));
    }
    let held = app.log.held_back(tail);
    let mode = match (app.log.follow, held) {
        (true, _) => "follow".to_string(),
        (false, 0) => "paused".to_string(),
        (false, held) => format!("paused · {held} new below (End)"),
    };
    let filter = if app.log.filter.is_empty() {
        String::new()
    } else {
        format!(" · filter \"{}\"", app.log.filter)
    };
    let enter = match (focused, target.and_then(|at| shown[at].trace_id.as_deref())) {
        (true, Some(id)) => format!(" · Enter: trace {}", &id[..8]),
        _ => String::new(),
    };
    let title = format!(
        " {} log · {} lines · {mode}{}{}{filter}{enter} ",
        if snapshot.worker2.is_some()
            || app.log_worker >= 2
            || !snapshot.replicas.is_empty()
            || crate::drill::scenario::find(&snapshot.scenario).is_ok_and(|d| d.worker_count() == 2)
        {
            format!("Worker {}", app.log_worker)
        } else {
            "Worker".to_string()
        },
        tail.total,
        if app.log.wrap { " · wrap" } else { "" },
        if app.log.fold { "" } else { " · unfolded" }
    );
    let mut widget = Paragraph::new(lines).block(block(title, Pane::Log, app));
    if app.log.wrap {
        widget = widget.wrap(Wrap { trim: false });
    }
    frame.render_widget(widget, area);
}
