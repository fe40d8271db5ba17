//! Lays out the panes and overlays. Reads the app and the snapshot; changes nothing.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};

use super::panes;
use super::{App, Overlay};
use crate::cockpit::engine::Snapshot;
use crate::sources::worker_proc::LogTail;

pub fn draw(frame: &mut Frame, app: &App, snapshot: &Snapshot, tail: &LogTail) {
    let mut area = frame.area();
    // The sandbox is never mistaken for the real stack: a title bar says so.
    if let Some(banner) = snapshot.sandbox {
        let split = Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Length(1), Constraint::Min(0)])
            .split(area);
        frame.render_widget(
            ratatui::widgets::Paragraph::new(format!(" {banner} · {} ", snapshot.run_dir)).style(
                ratatui::style::Style::default()
                    .fg(ratatui::style::Color::Black)
                    .bg(ratatui::style::Color::Yellow),
            ),
            split[0],
        );
        area = split[1];
    }
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(3),
            Constraint::Length(11),
            Constraint::Min(8),
            Constraint::Length(9),
            Constraint::Length(1),
        ])
        .split(area);
    let top = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([
            Constraint::Percentage(30),
            Constraint::Percentage(40),
            Constraint::Percentage(30),
        ])
        .split(rows[1]);
    let middle = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(60), Constraint::Percentage(40)])
        .split(rows[2]);

    panes::timeline::draw(frame, rows[0], app, snapshot);
    panes::containers::draw(frame, top[0], app, snapshot);
    panes::counters::draw(frame, top[1], app, snapshot);
    panes::checklist::draw(frame, top[2], app, snapshot);
    panes::log::draw(frame, middle[0], app, snapshot, tail);
    panes::traces::draw(frame, middle[1], app, snapshot);
    if snapshot.gates.is_empty() {
        panes::outbox::draw(frame, rows[3], app, snapshot);
    } else {
        let bottom = Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Percentage(55), Constraint::Percentage(45)])
            .split(rows[3]);
        panes::outbox::draw(frame, bottom[0], app, snapshot);
        panes::faults::draw(frame, bottom[1], app, snapshot);
    }
    panes::status::draw(frame, rows[4], app, snapshot);

    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => panes::overlays::help(frame, centered(area, 70, 80), app),
        Overlay::Confirm(kind) => {
            panes::overlays::confirm(frame, centered(area, 50, 20), *kind, snapshot)
        }
        Overlay::SpanTree { scroll } => {
            panes::overlays::span_tree(frame, centered(area, 85, 85), app, snapshot, *scroll)
        }
        Overlay::Picker { selected } => {
            panes::overlays::picker(frame, centered(area, 70, 60), *selected, snapshot)
        }
        Overlay::MarkerInput(text) => {
            panes::overlays::marker_input(frame, centered(area, 60, 15), text)
        }
        Overlay::FilterInput(text) => {
            panes::overlays::filter_input(frame, centered(area, 50, 15), text)
        }
    }
}

/// A rectangle of `percent_x` × `percent_y` in the middle of `area`.
pub fn centered(area: Rect, percent_x: u16, percent_y: u16) -> Rect {
    let width = area.width * percent_x / 100;
    let height = (area.height * percent_y / 100).max(5);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height.saturating_sub(height)) / 2,
        width,
        height: height.min(area.height),
    }
}
