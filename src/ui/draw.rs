//! Lays out the panes and overlays. Reads the app and the snapshot; changes nothing.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};

use super::panes;
use super::{App, Confirm, Overlay, Pane};
use crate::cockpit::engine::Snapshot;
use crate::sources::worker_proc::LogTail;

pub fn draw(frame: &mut Frame, app: &App, snapshot: &Snapshot, tail: &LogTail) {
    let mut area = frame.area();
    // Where each pane is drawn, for the mouse (a click focuses the pane under it).
    let mut drawn = app.pane_areas.borrow_mut();
    drawn.clear();
    // The sandbox is never mistaken for the real stack: a title bar says so.
    if let Some(banner) = snapshot.sandbox {
        let split = Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Length(1), Constraint::Min(0)])
            .split(area);
        frame.render_widget(
            ratatui::widgets::Paragraph::new(format!(" {banner} · {} ", snapshot.run_dir))
                .style(app.theme.badge_warn()),
            split[0],
        );
        area = split[1];
    }
    if app.zoomed {
        let split = Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Min(3), Constraint::Length(1)])
            .split(area);
        drawn.push((app.focus, split[0]));
        match app.focus {
            Pane::Containers => panes::containers::draw(frame, split[0], app, snapshot),
            Pane::Counters => panes::counters::draw(frame, split[0], app, snapshot),
            Pane::Checklist => panes::checklist::draw(frame, split[0], app, snapshot),
            Pane::Traces => panes::traces::draw(frame, split[0], app, snapshot),
            Pane::Outbox => panes::outbox::draw(frame, split[0], app, snapshot),
            Pane::Faults => panes::faults::draw(frame, split[0], app, snapshot),
            Pane::Timeline => panes::timeline::draw(frame, split[0], app, snapshot),
            Pane::Log => panes::log::draw(frame, split[0], app, snapshot, tail),
        }
        panes::status::draw(frame, split[1], app, snapshot);
        draw_overlay(frame, area, app, snapshot);
        return;
    }
    // A small terminal (80×24) keeps every pane, each with fewer rows: the strip, the
    // top row's first lines (services, the main counters, the first checks), the log
    // in the middle, the outbox's summary and first rows.
    let small = area.height < 40;
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(3),
            Constraint::Length(if small { 7 } else { 11 }),
            Constraint::Min(if small { 4 } else { 8 }),
            Constraint::Length(if small { 5 } else { 9 }),
            Constraint::Length(1),
        ])
        .split(area);
    let top = Layout::default()
        .direction(Direction::Horizontal)
        .constraints(top_row(area.width))
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
    drawn.extend([
        (Pane::Timeline, rows[0]),
        (Pane::Containers, top[0]),
        (Pane::Counters, top[1]),
        (Pane::Checklist, top[2]),
        (Pane::Log, middle[0]),
        (Pane::Traces, middle[1]),
    ]);
    if snapshot.gates.is_empty() {
        panes::outbox::draw(frame, rows[3], app, snapshot);
        drawn.push((Pane::Outbox, rows[3]));
    } else {
        let bottom = Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Percentage(55), Constraint::Percentage(45)])
            .split(rows[3]);
        panes::outbox::draw(frame, bottom[0], app, snapshot);
        panes::faults::draw(frame, bottom[1], app, snapshot);
        drawn.extend([(Pane::Outbox, bottom[0]), (Pane::Faults, bottom[1])]);
    }
    drop(drawn);
    panes::status::draw(frame, rows[4], app, snapshot);

    draw_overlay(frame, area, app, snapshot);
}

/// Containers, Counters, Checklist: the checklist gets the room its values need on a
/// wide screen (its lines are the drill's story), and its tally on a narrow one.
fn top_row(width: u16) -> [Constraint; 3] {
    match width {
        0..100 => [
            Constraint::Length(width * 33 / 100),
            Constraint::Min(0),
            Constraint::Length(width * 35 / 100),
        ],
        100..160 => [
            Constraint::Percentage(28),
            Constraint::Percentage(36),
            Constraint::Percentage(36),
        ],
        _ => [
            Constraint::Percentage(24),
            Constraint::Percentage(30),
            Constraint::Percentage(46),
        ],
    }
}

/// The overlay on top of whatever is drawn.
fn draw_overlay(frame: &mut Frame, area: Rect, app: &App, snapshot: &Snapshot) {
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help { scroll } => {
            // A small terminal gives the list nearly all of the screen.
            let (width, height) = if area.height < 40 { (96, 96) } else { (70, 80) };
            panes::overlays::help(frame, centered(area, width, height), app, *scroll)
        }
        Overlay::Confirm(kind) => {
            // The pending question names checks and keys: it needs more room.
            let (width, height) = match kind {
                Confirm::QuitWithPendingChecks => (80, 40),
                _ => (50, 20),
            };
            panes::overlays::confirm(
                frame,
                centered(area, width, height),
                *kind,
                snapshot,
                app.now,
                app.theme,
            )
        }
        Overlay::SpanTree { scroll } => {
            panes::overlays::span_tree(frame, centered(area, 85, 85), app, snapshot, *scroll)
        }
        Overlay::Picker { selected } => panes::overlays::picker(
            frame,
            centered(area, 70, 60),
            *selected,
            snapshot,
            app.theme,
        ),
        Overlay::MarkerInput(text) => {
            panes::overlays::marker_input(frame, centered(area, 60, 15), text, app.theme)
        }
        Overlay::FilterInput(text) => {
            panes::overlays::filter_input(frame, centered(area, 50, 15), text, app.theme)
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
