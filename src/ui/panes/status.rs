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
    for binding in app.keymap.bindings.iter().filter(|b| b.in_status_bar) {
        spans.push(Span::styled(format!(" {}", binding.key), theme.key()));
        // The label's head: "fault in: gate: …" → "fault in", "stop ES (confirm)" → "stop ES".
        let head = binding.label.split([':', '(']).next().unwrap_or("").trim();
        spans.push(Span::raw(format!(" {head}")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// What the drill waits for: the waited quit's countdown, else when the event retries.
fn waiting_words(app: &App, snapshot: &Snapshot) -> Option<String> {
    match app.quit_wait {
        Some(until) => Some(crate::ui::quit::countdown_words(snapshot, until, app.now)),
        None => crate::ui::quit::retry_words(snapshot, app.now),
    }
}
