//! The fault gates: what each stands in front of, the fault in force, how many requests
//! it saw and hit, and its newest requests (an injected one in colour).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::block;
use crate::cockpit::engine::Snapshot;
use crate::ui::{App, Pane};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, snapshot: &Snapshot) {
    let theme = app.theme;
    let mut lines = Vec::new();
    for gate in &snapshot.gates {
        let passing = gate.fault == "pass";
        // A gate fault set before the drill's own fault is in (F's hold on worker 1's
        // first write) is part of the drill's set-up: armed, not "the fault".
        let armed = !passing && !snapshot.fault_in;
        lines.push(Line::from(vec![
            Span::styled(
                format!("{} gate {}", gate.role, if armed { "armed: " } else { "" }),
                theme.strong(),
            ),
            Span::styled(
                if passing {
                    "pass".to_string()
                } else {
                    crate::sanitize::one_line(&gate.fault, 80)
                },
                if passing {
                    theme.good()
                } else {
                    theme.badge_warn()
                },
            ),
        ]));
        lines.push(Line::styled(
            format!(
                "  {} request(s), {} hit · {} → {}",
                gate.total, gate.injected, gate.url, gate.upstream
            ),
            theme.dim(),
        ));
        for record in gate.recent.iter().rev() {
            let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(record.at_unix_ms)
                // UTC, as the journal and the exports stamp it.
                .map(|t| t.format("%H:%M:%S%.3fZ").to_string())
                .unwrap_or_default();
            let status = record.status.map_or("---".to_string(), |s| s.to_string());
            let style = match (&record.injected, record.status) {
                (Some(_), _) => theme.warn(),
                (None, Some(status)) if status >= 400 => theme.bad(),
                _ => Style::default(),
            };
            lines.push(Line::from(vec![
                Span::styled(format!(" {at} "), theme.dim()),
                Span::styled(
                    format!(
                        "{:<6} {:<7} {status} {:>5} ms ",
                        record.method.as_str(),
                        format!("{:?}", record.op).to_lowercase(),
                        record.elapsed_ms
                    ),
                    style,
                ),
                Span::styled(
                    record
                        .injected
                        .as_deref()
                        .map(|f| format!("← {}", crate::sanitize::one_line(f, 60)))
                        .unwrap_or_else(|| crate::sanitize::one_line(&record.path, 60)),
                    if record.injected.is_some() {
                        style
                    } else {
                        theme.dim()
                    },
                ),
            ]));
        }
    }
    let widget = Paragraph::new(lines).block(block(
        format!(
            " Faults · {} ",
            match (
                snapshot.fault_in,
                snapshot.gates.iter().any(|g| g.fault != "pass")
            ) {
                (true, _) => "the drill's fault is IN",
                (false, true) => "the drill's fault is not in yet · a gate is armed for it",
                (false, false) => "no fault in",
            }
        ),
        Pane::Faults,
        app,
    ));
    frame.render_widget(widget, area);
}
