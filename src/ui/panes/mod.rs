//! One module per pane; each draws from the snapshot and degrades on its own.

pub mod checklist;
pub mod containers;
pub mod counters;
pub mod faults;
pub mod log;
pub mod outbox;
pub mod overlays;
pub mod status;
pub mod timeline;
pub mod traces;

use ratatui::widgets::{Block, BorderType, Borders};

use super::{App, Pane};

/// A pane's frame; the focused one is highlighted.
pub fn block<'a>(title: String, pane: Pane, app: &App) -> Block<'a> {
    let focused = app.focus == pane;
    Block::default()
        .title(title)
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(app.theme.border(focused))
}

/// What a pane says while it has nothing to show: live, what it waits for (or what
/// to press); in a replay (a cursor on the recording), that the run did not record it
/// by this moment — a replay never claims to be connecting to anything.
pub fn nothing_yet(snapshot: &crate::cockpit::engine::Snapshot, live: &str, what: &str) -> String {
    if snapshot.cursor.is_some() {
        format!("{what}: not recorded by this moment of the run")
    } else {
        live.to_string()
    }
}

/// Short form of an id (first 8 characters).
pub fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

/// `12.3 s`, `4 m 05 s`, `2 h 01 m`.
pub fn human_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".into();
    }
    let total = seconds as u64;
    match total {
        0..=59 => format!("{seconds:.1} s"),
        60..=3599 => format!("{} m {:02} s", total / 60, total % 60),
        _ => format!("{} h {:02} m", total / 3600, (total % 3600) / 60),
    }
}
