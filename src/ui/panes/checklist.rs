//! The scenario's acceptance checks, live: pending, passed or failed, with what was seen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::block;
use crate::cockpit::engine::Snapshot;
use crate::cockpit::tally::Tally;
use crate::drill::CheckStatus;
use crate::ui::{App, Pane};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, snapshot: &Snapshot) {
    let theme = app.theme;
    let mut lines = Vec::new();
    match &snapshot.checklist {
        None => lines.push(Line::styled(
            super::nothing_yet(snapshot, "waiting for the first scrape …", "checks"),
            theme.dim(),
        )),
        Some(verdict) => {
            for check in &verdict.checks {
                let (mark, style) = match check.status {
                    CheckStatus::Passed => ("✓", theme.good()),
                    CheckStatus::Failed => ("✗", theme.bad()),
                    CheckStatus::Pending => ("…", theme.dim()),
                    CheckStatus::NotRecorded => ("?", theme.dim()),
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("{mark} "), style),
                    Span::styled(check.title, style),
                    Span::styled(format!(" · {}", check.observed), theme.dim()),
                ]));
            }
        }
    }
    // Actions that did not happen are part of the drill's story: newest last, in red.
    for failed in snapshot.failed_actions.iter().rev().take(3).rev() {
        lines.push(Line::from(vec![
            Span::styled("! ", theme.error()),
            Span::styled(format!("{} failed", failed.action), theme.error()),
            Span::styled(format!(" · {}", failed.error), theme.dim()),
        ]));
    }
    // Narrow: the short tally (the verdict matters more than the drill's name).
    let full = format!(" {} ", title(snapshot));
    let title = match &snapshot.checklist {
        Some(verdict) if full.chars().count() + 2 > area.width as usize => {
            format!(" {} ", Tally::of(verdict).short_words())
        }
        _ => full,
    };
    // One line per check (what was seen follows, cut at the pane's edge; `f` keeps it whole).
    frame.render_widget(
        Paragraph::new(lines).block(block(title, Pane::Checklist, app)),
        area,
    );
}

/// `Checklist · es_down_connect · 7/8 passed · 1 pending`, `… · 8/8 passed · PASSED`:
/// the same count as the freeze's status line and the words printed after exit.
pub fn title(snapshot: &Snapshot) -> String {
    match &snapshot.checklist {
        Some(verdict) => format!(
            "Checklist · {} · {}",
            snapshot.scenario,
            Tally::of(verdict).words()
        ),
        None => format!("Checklist · {}", snapshot.scenario),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::{CheckOutcome, Verdict};

    fn with_checks(statuses: &[CheckStatus], ok: bool) -> Snapshot {
        Snapshot {
            scenario: "es_down_connect".into(),
            checklist: Some(Verdict {
                scenario: "es_down_connect".into(),
                checks: statuses
                    .iter()
                    .map(|status| CheckOutcome {
                        id: "check",
                        title: "a check",
                        status: *status,
                        observed: String::new(),
                        before: None,
                        after: None,
                        delta: None,
                    })
                    .collect(),
                ok,
                findings: Vec::new(),
            }),
            ..Snapshot::default()
        }
    }

    #[test]
    fn before_the_first_grade_the_title_names_the_drill_only() {
        let snapshot = Snapshot {
            scenario: "es_down_connect".into(),
            ..Snapshot::default()
        };
        assert_eq!(title(&snapshot), "Checklist · es_down_connect");
    }

    #[test]
    fn a_pending_check_is_counted_and_no_verdict_is_given() {
        let mut statuses = vec![CheckStatus::Passed; 7];
        statuses.push(CheckStatus::Pending);
        assert_eq!(
            title(&with_checks(&statuses, false)),
            "Checklist · es_down_connect · 7/8 passed · 1 pending"
        );
    }

    #[test]
    fn every_check_passed_says_passed() {
        assert_eq!(
            title(&with_checks(&[CheckStatus::Passed; 8], true)),
            "Checklist · es_down_connect · 8/8 passed · PASSED"
        );
    }

    #[test]
    fn a_failed_check_says_failed_even_while_another_is_pending() {
        let statuses = [
            CheckStatus::Passed,
            CheckStatus::Failed,
            CheckStatus::Pending,
        ];
        assert_eq!(
            title(&with_checks(&statuses, false)),
            "Checklist · es_down_connect · 1/3 passed · 1 failed · 1 pending · FAILED"
        );
    }
}
