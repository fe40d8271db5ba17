//! The status bar: what is happening, the last action's outcome, what the drill waits
//! for (the event's next retry, the waited quit), the main keys.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::cockpit::engine::Snapshot;
use crate::ui::App;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, snapshot: &Snapshot) {
    let theme = app.theme;
    let mut spans = Vec::new();
    if let Some(busy) = &snapshot.busy {
        spans.push(Span::styled(format!(" {busy} "), theme.badge_warn()));
    } else if let Some(notice) = &app.notice {
        spans.push(Span::styled(
            format!(" {} ", crate::sanitize::one_line(notice, 120)),
            theme.badge_warn(),
        ));
    } else if let Some((text, error)) = &snapshot.status {
        let style = if *error {
            theme.badge_error()
        } else {
            theme.badge_ok()
        };
        spans.push(Span::styled(
            format!(" {} ", crate::sanitize::one_line(text, 120)),
            style,
        ));
    } else if let Some(warning) = app.warnings.first() {
        spans.push(Span::styled(format!(" {warning} "), theme.badge_warn()));
    }
    if let Some(words) = waiting_words(app, snapshot) {
        spans.push(Span::styled(format!(" {words} "), theme.badge_warn()));
    }
    let used: usize = spans.iter().map(Span::width).sum();
    let (keys, all_shown) = key_hints(app, (area.width as usize).saturating_sub(used));
    spans.extend(keys);
    if !all_shown {
        spans.push(Span::styled(more(app), app.theme.key()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Said at the end of a status bar too narrow for every key: the help key shows them.
fn more(app: &App) -> String {
    format!(
        " {} more",
        app.keymap.key_of(crate::ui::keymap::Action::Help)
    )
}

/// The status bar's keys that fit in `room` columns (leaving room for "? more" when
/// some do not), and whether all of them fit.
fn key_hints(app: &App, room: usize) -> (Vec<Span<'static>>, bool) {
    let hints: Vec<[Span<'static>; 2]> = app
        .keymap
        .bindings
        .iter()
        .filter(|b| b.in_status_bar)
        .map(|binding| {
            // The label's head: "fault in: gate: …" → "fault in", "stop ES (confirm)" → "stop ES".
            let head = binding.label.split([':', '(']).next().unwrap_or("").trim();
            [
                Span::styled(format!(" {}", binding.key), app.theme.key()),
                Span::raw(format!(" {head}")),
            ]
        })
        .collect();
    let width = |hint: &[Span; 2]| hint[0].width() + hint[1].width();
    if hints.iter().map(width).sum::<usize>() <= room {
        return (hints.into_iter().flatten().collect(), true);
    }
    let mut left = room.saturating_sub(more(app).chars().count());
    let mut shown = Vec::new();
    for hint in hints {
        if width(&hint) > left {
            break;
        }
        left -= width(&hint);
        shown.extend(hint);
    }
    (shown, false)
}

/// What the drill waits for: the waited quit's countdown, else when the event retries.
fn waiting_words(app: &App, snapshot: &Snapshot) -> Option<String> {
    match app.quit_wait {
        Some(wait) => Some(crate::ui::quit::countdown_words(snapshot, wait, app.now)),
        None => crate::ui::quit::retry_words(snapshot, app.now),
    }
}
