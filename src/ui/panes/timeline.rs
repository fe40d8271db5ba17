//! The timeline strip: the drill's story on a time axis — the fault in (▼) and out (▲),
//! the first retry (r) and terminal failure (T), the recovery (✓), freezes (f) and
//! markers (m) — with the retries as a sparkline under it and the newest moments in
//! words. The same moments as `timeline.svg` and the report's story.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::block;
use crate::cockpit::counters::sparkline;
use crate::cockpit::engine::Snapshot;
use crate::evidence::moments::{Moment, MomentKind};
use crate::ui::theme::Theme;
use crate::ui::{App, Pane};

/// The axis: one cell per slice of the drill so far, a moment's glyph in its cell (the
/// later one wins a shared cell).
fn axis(
    moments: &[Moment],
    elapsed: f64,
    cursor: Option<f64>,
    width: usize,
    theme: Theme,
) -> Vec<Span<'static>> {
    let span = elapsed.max(moments.last().map_or(0.0, |m| m.at)).max(1.0);
    let cell_of = |at: f64| {
        (((at / span) * (width.saturating_sub(1)) as f64).round() as usize)
            .min(width.saturating_sub(1))
    };
    let cursor_cell = cursor.map(cell_of);
    let mut cells: Vec<Option<MomentKind>> = vec![None; width];
    for moment in moments {
        let cell = ((moment.at / span) * (width.saturating_sub(1)) as f64).round() as usize;
        if let Some(slot) = cells.get_mut(cell.min(width.saturating_sub(1))) {
            *slot = Some(moment.kind);
        }
    }
    cells
        .into_iter()
        .enumerate()
        .map(|(n, cell)| match (cell, Some(n) == cursor_cell) {
            // A replay's cursor: the moment under it stays readable, highlighted.
            (Some(kind), true) => Span::styled(kind.glyph().to_string(), theme.selected()),
            (None, true) => Span::styled("┃", theme.active()),
            (Some(kind), false) => Span::styled(kind.glyph().to_string(), theme.moment(kind)),
            (None, false) => Span::styled("─", theme.dim()),
        })
        .collect()
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, snapshot: &Snapshot) {
    let theme = app.theme;
    let title = match snapshot.cursor {
        Some(at) => format!(" Timeline · replay {at:.1} / {:.1} s ", snapshot.elapsed),
        None => format!(" Timeline · {:.0} s ", snapshot.elapsed),
    };
    let outer = block(title, Pane::Timeline, app);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    // Left: the axis; right: the newest moments in words and the retries' sparkline.
    let axis_width = (inner.width as usize * 40 / 100).max(10);
    let mut spans = axis(
        &snapshot.moments,
        snapshot.elapsed,
        snapshot.cursor,
        axis_width,
        theme,
    );
    let history = |metric: &str| -> Vec<f64> {
        snapshot
            .counters
            .rows
            .iter()
            .filter(|r| r.metric == metric)
            .max_by_key(|r| r.history.len())
            .map(|r| r.history.clone())
            .unwrap_or_default()
    };
    spans.push(Span::styled(
        format!(" retries {}", sparkline(&history("retry_scheduled"), 8)),
        theme.warn(),
    ));
    spans.push(Span::styled(
        format!(" failed {} ", sparkline(&history("failed"), 8)),
        theme.bad(),
    ));
    let room = (inner.width as usize).saturating_sub(axis_width + 32);
    let mut told = String::new();
    for moment in snapshot.moments.iter().rev() {
        let item = format!(
            "{} +{:.0}s {}",
            moment.kind.glyph(),
            moment.at,
            moment.label
        );
        if told.chars().count() + item.chars().count() + 3 > room {
            break;
        }
        told = if told.is_empty() {
            item
        } else {
            format!("{item} · {told}")
        };
    }
    if told.is_empty() {
        told = super::nothing_yet(
            snapshot,
            "no moment yet: the fault, the first retry, the recovery and markers (m) land here",
            "moments",
        )
        .chars()
        .take(room)
        .collect();
    }
    spans.push(Span::raw(told));
    frame.render_widget(Paragraph::new(Line::from(spans)), inner);
}
