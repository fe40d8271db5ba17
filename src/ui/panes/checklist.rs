//! The scenario's acceptance checks, live: pending, passed or failed, with what was seen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{block, dim, error_style};
use crate::cockpit::engine::Snapshot;
use crate::drill::CheckStatus;
use crate::ui::{App, Pane};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, snapshot: &Snapshot) {
    let mut lines = Vec::new();
    match &snapshot.checklist {
        None => lines.push(Line::styled("waiting for the first scrape …", dim())),
        Some(verdict) => {
            for check in &verdict.checks {
                let (mark, style) = match check.status {
                    CheckStatus::Passed => ("✓", Style::default().fg(Color::Green)),
                    CheckStatus::Failed => ("✗", Style::default().fg(Color::Red)),
                    CheckStatus::Pending => ("…", Style::default().fg(Color::DarkGray)),
                    CheckStatus::NotRecorded => ("?", Style::default().fg(Color::DarkGray)),
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("{mark} "), style),
                    Span::styled(check.title, style),
                    Span::styled(format!(" · {}", check.observed), dim()),
                ]));
            }
        }
    }
    // Actions that did not happen are part of the drill's story: newest last, in red.
    for failed in snapshot.failed_actions.iter().rev().take(3).rev() {
        lines.push(Line::from(vec![
            Span::styled("! ", error_style()),
            Span::styled(format!("{} failed", failed.action), error_style()),
            Span::styled(format!(" · {}", failed.error), dim()),
        ]));
    }
    let title = format!(" Checklist · {} ", snapshot.scenario);
    // One line per check (what was seen follows, cut at the pane's edge; `f` keeps it whole).
    frame.render_widget(
        Paragraph::new(lines).block(block(title, Pane::Checklist, app)),
        area,
    );
}
