//! The log pane's own state and its line shaping: follow/pause, scroll, wrap, a
//! filter that keeps context lines around each match, and folding of runs of lines
//! that differ only in ids and times (`outbox.claim_batch … ×37`), so a 200 ms poll
//! stream never hides the one error. Works on the in-memory tail only.

use std::collections::VecDeque;

use crate::sources::worker_proc::LogTail;

use serde_json::Value;

use super::keymap::Action;
use crate::sanitize::strip_controls;

/// Lines of context kept around each filter match.
pub const CONTEXT: usize = 2;
/// Display cut for a single line (the file keeps it whole).
pub const MAX_SHOWN_CHARS: usize = 1_000;

#[derive(Debug, Clone)]
pub struct LogView {
    pub follow: bool,
    /// Lines above the bottom when not following.
    pub offset: usize,
    pub wrap: bool,
    pub filter: String,
    /// Which match `n` jumps to next.
    pub match_cursor: usize,
    /// Fold runs of same-shaped lines into one (`c` toggles).
    pub fold: bool,
    /// The tail's line count when the view was paused: lines after it stay off screen.
    pub paused_at: Option<u64>,
    /// The tail's line count as of the last frame (set by the terminal loop).
    pub seen_total: u64,
    /// The trace id `Enter` opens: the lowest line on screen that names one (set when
    /// the pane is drawn, since only drawing knows which lines fit).
    pub drawn_trace: std::cell::RefCell<Option<String>>,
}

impl Default for LogView {
    fn default() -> LogView {
        LogView {
            follow: true,
            offset: 0,
            wrap: false,
            filter: String::new(),
            match_cursor: 0,
            fold: true,
            paused_at: None,
            seen_total: 0,
            drawn_trace: Default::default(),
        }
    }
}

/// One line as the pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownLine {
    pub text: String,
    pub level: Option<String>,
    pub is_match: bool,
    pub is_marker: bool,
    /// A separator between non-adjacent context groups.
    pub is_gap: bool,
    /// How many same-shaped lines this one stands for (1 = itself only).
    pub repeat: usize,
    /// The trace the line names (`trace_id`), the way into its span tree.
    pub trace_id: Option<String>,
}

/// One row before shaping: a tail index, whether it matched, how many it folds.
#[derive(Debug, Clone, Copy)]
struct Row {
    index: usize,
    is_match: bool,
    repeat: usize,
}

impl LogView {
    pub fn set_filter(&mut self, text: &str) {
        self.filter = text.to_string();
        self.match_cursor = 0;
        self.set_follow(true);
        self.offset = 0;
    }

    /// Follow the newest lines, or hold the view still (new lines wait below it).
    fn set_follow(&mut self, follow: bool) {
        if follow {
            self.paused_at = None;
        } else if self.follow {
            self.paused_at = Some(self.seen_total);
        }
        self.follow = follow;
    }

    pub fn toggle_follow(&mut self) {
        self.set_follow(!self.follow);
        if self.follow {
            self.offset = 0;
        }
    }

    /// Lines that arrived since the pause (shown in the title, not on screen).
    pub fn held_back(&self, tail: &LogTail) -> u64 {
        self.paused_at
            .map(|at| tail.total.saturating_sub(at))
            .unwrap_or(0)
    }

    pub fn scroll(&mut self, action: Action) {
        let by = match action {
            Action::Up => 1,
            Action::PageUp => 20,
            Action::Down => -1,
            Action::PageDown => -20,
            Action::Top => i64::MAX / 2,
            Action::Bottom => i64::MIN / 2,
            _ => 0,
        };
        let next = (self.offset as i64).saturating_add(by).max(0) as usize;
        self.offset = next;
        // Scrolling back to the bottom of a held view keeps it held; End follows again.
        let follow = next == 0 && (self.paused_at.is_none() || action == Action::Bottom);
        self.set_follow(follow);
    }

    pub fn next_match(&mut self) {
        self.match_cursor += 1;
        self.set_follow(false);
    }

    /// The lines to show in a pane of `height` rows, from the tail.
    pub fn visible(&self, log: &LogTail, height: usize) -> Vec<ShownLine> {
        let tail = &log.lines;
        // A held view ends where it was paused, however many lines came since.
        let newest = tail.len().saturating_sub(self.held_back(log) as usize);
        let selected: Vec<(usize, bool)> = if self.filter.is_empty() {
            (0..newest).map(|i| (i, false)).collect()
        } else {
            with_context(tail, &self.filter, newest)
        };
        let selected = if self.fold {
            fold_runs(&selected, log)
        } else {
            selected
                .iter()
                .map(|&(index, is_match)| Row {
                    index,
                    is_match,
                    repeat: 1,
                })
                .collect()
        };
        let matches: Vec<usize> = selected
            .iter()
            .enumerate()
            .filter(|(_, row)| row.is_match)
            .map(|(i, _)| i)
            .collect();
        let total = selected.len();
        let mut end = total.saturating_sub(if self.follow {
            0
        } else {
            self.offset.min(total.saturating_sub(1))
        });
        if !self.filter.is_empty() && !self.follow && !matches.is_empty() && self.match_cursor > 0 {
            // `n`: put the chosen match near the bottom of the view, newest first.
            let chosen = matches[matches.len() - 1 - ((self.match_cursor - 1) % matches.len())];
            end = (chosen + 1 + CONTEXT).min(total);
        }
        let start = end.saturating_sub(height);
        let mut shown = Vec::with_capacity(end - start);
        let mut previous: Option<usize> = None;
        for row in &selected[start..end] {
            let first = row.index + 1 - row.repeat;
            if let Some(prev) = previous
                && first > prev + 1
            {
                shown.push(ShownLine {
                    text: "…".into(),
                    level: None,
                    is_match: false,
                    is_marker: false,
                    is_gap: true,
                    repeat: 1,
                    trace_id: None,
                });
            }
            previous = Some(row.index);
            let raw = &tail[row.index];
            let (mut text, level) = render_line(raw);
            if row.repeat > 1 {
                text.push_str(&format!("  ×{}", row.repeat));
            }
            shown.push(ShownLine {
                is_marker: raw.contains("Observability schema:"),
                text,
                level,
                is_match: row.is_match,
                is_gap: false,
                repeat: row.repeat,
                trace_id: trace_of(raw),
            });
        }
        let overflow = shown.len().saturating_sub(height);
        shown.drain(..overflow);
        shown
    }
}

/// Consecutive foldable lines of one shape become one row (the newest of them) that
/// counts them; matches, errors, warnings and markers always stand alone.
fn fold_runs(selected: &[(usize, bool)], log: &LogTail) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::with_capacity(selected.len());
    let mut last_shape: Option<u64> = None;
    for &(index, is_match) in selected {
        let meta = log.meta_of(index);
        let joins = !is_match
            && meta.foldable
            && last_shape == Some(meta.shape)
            && rows
                .last()
                .is_some_and(|r| r.index + 1 == index && !r.is_match);
        if joins && let Some(row) = rows.last_mut() {
            row.index = index;
            row.repeat += 1;
            continue;
        }
        last_shape = (meta.foldable && !is_match).then_some(meta.shape);
        rows.push(Row {
            index,
            is_match,
            repeat: 1,
        });
    }
    rows
}

/// Indices (below `end`) of matching lines plus their context, in order: (index, is_match).
/// A line matches when what the pane shows of it does (`attempt=5`), or its raw text
/// does (a field the pane leaves out); case does not matter.
fn with_context(tail: &VecDeque<String>, filter: &str, end: usize) -> Vec<(usize, bool)> {
    let needle = filter.to_lowercase();
    let matches: Vec<usize> = tail
        .iter()
        .take(end)
        .enumerate()
        .filter(|(_, l)| {
            l.to_lowercase().contains(&needle) || render_line(l).0.to_lowercase().contains(&needle)
        })
        .map(|(i, _)| i)
        .collect();
    let mut keep = std::collections::BTreeMap::new();
    for m in &matches {
        for i in m.saturating_sub(CONTEXT)..=(m + CONTEXT).min(end.saturating_sub(1)) {
            keep.entry(i).or_insert(false);
        }
        keep.insert(*m, true);
    }
    keep.into_iter().collect()
}

/// A JSON line rendered compactly (time, level, message, reason, ids); a plain line
/// as it is. Escape sequences and control characters are removed either way.
pub fn render_line(raw: &str) -> (String, Option<String>) {
    if raw.trim_start().starts_with('{')
        && let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(raw)
    {
        let text = |key: &str| {
            fields.get(key).map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
        };
        let time = text("ts")
            .or_else(|| text("timestamp"))
            .or_else(|| text("time"))
            .map(|ts| clock_of(&ts))
            .unwrap_or_default();
        let level = text("level").unwrap_or_default();
        let mut line = format!("{time} {level:<7} {}", text("message").unwrap_or_default());
        for (key, short) in [
            // The trace id before the other ids: it is the way into Jaeger.
            ("reason", "reason"),
            ("attempt", "attempt"),
            ("trace_id", "trace"),
            ("outbox_event_id", "event"),
            ("claim_batch_id", "batch"),
        ] {
            if let Some(value) = text(key).filter(|v| !v.is_empty() && v != "null") {
                let value = if matches!(short, "event" | "batch" | "trace") {
                    value.chars().take(8).collect()
                } else {
                    value
                };
                line.push_str(&format!("  {short}={value}"));
            }
        }
        return (cut(&strip_controls(&line)), Some(level));
    }
    (cut(&strip_controls(raw)), None)
}

/// The trace id a log line names: its JSON `trace_id` (or `otelTraceID`), or a
/// `trace_id=<hex>` in plain text; 16 or 32 hex digits, never all zeros.
pub fn trace_of(raw: &str) -> Option<String> {
    let id = if raw.trim_start().starts_with('{') {
        let fields: serde_json::Map<String, Value> = serde_json::from_str(raw).ok()?;
        ["trace_id", "otelTraceID"]
            .iter()
            .find_map(|key| fields.get(*key)?.as_str().map(str::to_string))?
    } else {
        let (_, after) = raw.split_once("trace_id=")?;
        after.chars().take_while(char::is_ascii_hexdigit).collect()
    };
    let id = id.to_ascii_lowercase();
    (matches!(id.len(), 16 | 32)
        && id.chars().all(|c| c.is_ascii_hexdigit())
        && id.chars().any(|c| c != '0'))
    .then_some(id)
}

/// The wall-clock part of a log timestamp, `HH:MM:SS.mmm`, whatever the worker wrote:
/// RFC 3339 with or without fractions (`…T06:12:44+00:00`, `…T06:12:44.5Z`), Python's
/// `2026-02-14 06:12:44,123`, or a bare time. Anything else is shown as it is.
pub fn clock_of(ts: &str) -> String {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(ts) {
        return time.format("%H:%M:%S%.3f").to_string();
    }
    // After the date (`T` or a space), up to the zone; a comma is Python's decimal mark.
    let time = ts
        .split_once(['T', ' '])
        .map_or(ts, |(date, time)| if date.len() == 10 { time } else { ts })
        .split(['+', 'Z', 'z'])
        .next()
        .unwrap_or(ts)
        .replace(',', ".");
    let time = match time.rfind('-') {
        // `06:12:44-05:00`: a negative zone, not part of the time.
        Some(at) if at >= 8 => &time[..at],
        _ => time.as_str(),
    };
    match chrono::NaiveTime::parse_from_str(time, "%H:%M:%S%.f") {
        Ok(clock) => clock.format("%H:%M:%S%.3f").to_string(),
        Err(_) => ts.chars().take(23).collect(),
    }
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_SHOWN_CHARS {
        return text.to_string();
    }
    let mut shown: String = text.chars().take(MAX_SHOWN_CHARS).collect();
    shown.push_str(" …[cut]");
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(lines: &[&str]) -> LogTail {
        let mut tail = LogTail::default();
        for line in lines {
            tail.push(line.to_string());
        }
        tail
    }

    #[test]
    fn timestamps_show_their_clock_in_every_shape_workers_write() {
        for (ts, clock) in [
            ("2026-02-14T10:42:39.403982+00:00", "10:42:39.403"),
            ("2026-02-14T06:12:44+00:00", "06:12:44.000"),
            ("2026-02-14T06:12:44Z", "06:12:44.000"),
            ("2026-02-14T06:12:44.5-05:00", "06:12:44.500"),
            ("2026-02-14 06:12:44,123", "06:12:44.123"),
            ("2026-02-14 06:12:44", "06:12:44.000"),
            ("06:12:44.7", "06:12:44.700"),
            ("yesterday", "yesterday"),
            ("", ""),
        ] {
            assert_eq!(clock_of(ts), clock, "{ts}");
        }
        let (text, _) =
            render_line(r#"{"ts":"2026-02-14T06:12:44+00:00","level":"INFO","message":"ok"}"#);
        assert!(text.starts_with("06:12:44.000 INFO"), "{text}");
    }

    #[test]
    fn a_line_names_its_trace_in_json_or_plain_text() {
        let id = "18bef09d08385a0cfe337a1396ce6e5f";
        assert_eq!(
            trace_of(&format!(r#"{{"message":"x","trace_id":"{id}"}}"#)).as_deref(),
            Some(id)
        );
        assert_eq!(
            trace_of(&format!("ERROR failed trace_id={id} span_id=1")).as_deref(),
            Some(id)
        );
        assert_eq!(
            trace_of(r#"{"trace_id":"00000000000000000000000000000000"}"#),
            None
        );
        assert_eq!(trace_of(r#"{"trace_id":"not-hex"}"#), None);
        assert_eq!(trace_of("no trace here"), None);
    }

    #[test]
    fn the_filter_finds_what_the_pane_shows_not_only_the_raw_json() {
        let log = tail(&[
            r#"{"ts":"2026-02-14T10:42:39Z","level":"ERROR","message":"failed","attempt":5}"#,
            r#"{"ts":"2026-02-14T10:42:40Z","level":"INFO","message":"claimed"}"#,
        ]);
        let mut view = LogView::default();
        view.set_filter("attempt=5");
        let shown = view.visible(&log, 10);
        assert!(
            shown
                .iter()
                .any(|l| l.is_match && l.text.contains("attempt=5")),
            "{shown:?}"
        );
        view.set_filter("\"attempt\":5");
        assert!(
            view.visible(&log, 10).iter().any(|l| l.is_match),
            "the raw text still matches"
        );
    }

    #[test]
    fn json_lines_render_compactly_and_escapes_are_stripped() {
        let (text, level) = render_line(
            r#"{"ts":"2026-02-14T10:42:39.403982+00:00","level":"ERROR","message":"Failed \u001b[31mhere","reason":"es_connect","attempt":2,"outbox_event_id":"8722f068-7acd","trace_id":"18bef09d08385a0c"}"#,
        );
        assert_eq!(
            text,
            "10:42:39.403 ERROR   Failed here  reason=es_connect  attempt=2  trace=18bef09d  event=8722f068"
        );
        assert_eq!(level.as_deref(), Some("ERROR"));
        assert_eq!(
            render_line("\u{1b}]0;pwned\u{7}[OK] Database").0,
            "[OK] Database"
        );
        assert!(render_line(&"y".repeat(1_000_000)).0.ends_with("…[cut]"));
    }

    #[test]
    fn filter_keeps_context_and_marks_gaps() {
        let lines: Vec<String> = (0..20)
            .map(|i| {
                if i == 5 || i == 15 {
                    format!("line {i} es_connect")
                } else {
                    format!("line {i}")
                }
            })
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let mut view = LogView {
            fold: false,
            ..LogView::default()
        };
        view.set_filter("ES_CONNECT");
        let shown = view.visible(&tail(&refs), 50);
        let texts: Vec<&str> = shown.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "line 3",
                "line 4",
                "line 5 es_connect",
                "line 6",
                "line 7",
                "…",
                "line 13",
                "line 14",
                "line 15 es_connect",
                "line 16",
                "line 17"
            ]
        );
        assert_eq!(shown.iter().filter(|l| l.is_match).count(), 2);
    }

    #[test]
    fn follow_shows_the_newest_and_scrolling_pauses() {
        let lines: Vec<String> = (0..100).map(|i| format!("l{i}")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let mut view = LogView {
            fold: false,
            seen_total: 100,
            ..LogView::default()
        };
        assert_eq!(view.visible(&tail(&refs), 3).last().unwrap().text, "l99");
        view.scroll(Action::PageUp);
        assert!(!view.follow);
        assert_eq!(view.visible(&tail(&refs), 3).last().unwrap().text, "l79");
        view.scroll(Action::Bottom);
        assert!(view.follow);
    }

    #[test]
    fn a_paused_view_holds_still_while_lines_keep_coming() {
        let mut log = tail(&["a", "b", "c"]);
        let mut view = LogView {
            seen_total: log.total,
            ..LogView::default()
        };
        view.toggle_follow();
        for line in ["d", "e", "f"] {
            log.push(line.to_string());
        }
        let texts: Vec<String> = view.visible(&log, 2).into_iter().map(|l| l.text).collect();
        assert_eq!(texts, vec!["b", "c"], "new lines do not move a paused view");
        assert_eq!(view.held_back(&log), 3);
        view.toggle_follow();
        let texts: Vec<String> = view.visible(&log, 2).into_iter().map(|l| l.text).collect();
        assert_eq!(texts, vec!["e", "f"]);
    }

    #[test]
    fn runs_of_poll_lines_fold_and_never_hide_an_error() {
        let poll = |n: usize| {
            format!(
                r#"{{"ts":"2026-11-28T06:56:{:02}.1+00:00","level":"INFO","message":"outbox.claim_batch","claim_batch_id":"{}","claimed":0}}"#,
                n % 60,
                uuid::Uuid::new_v4()
            )
        };
        let mut lines: Vec<String> = (0..37).map(poll).collect();
        lines.push(r#"{"ts":"2026-11-28T06:57:00.0+00:00","level":"ERROR","message":"Outbox delete failed","reason":"es_connect"}"#.into());
        lines.extend((0..5).map(poll));
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let log = tail(&refs);
        let mut view = LogView::default();
        let shown = view.visible(&log, 10);
        assert_eq!(shown.len(), 3, "{shown:#?}");
        assert!(shown[0].text.contains("outbox.claim_batch") && shown[0].text.ends_with("×37"));
        assert_eq!(shown[1].level.as_deref(), Some("ERROR"));
        assert!(shown[2].text.ends_with("×5"));
        assert_eq!(shown.iter().map(|l| l.repeat).sum::<usize>(), 43);
        // Unfolded, every line is there again.
        view.fold = false;
        assert_eq!(view.visible(&log, 100).len(), 43);
    }
}
