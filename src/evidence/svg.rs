//! `timeline.svg`: the drill over time. Counters as lines, container stops/starts and
//! inserts as marks, and the moment each check passed.

use serde_json::Value;

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 360.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 160.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 80.0;

const SERIES: &[(&str, &str)] = &[
    ("retry_scheduled", "#d97706"),
    ("failed", "#dc2626"),
    ("terminal_failed", "#7c3aed"),
    ("processed", "#16a34a"),
];

use crate::sanitize::markup as escape;

fn seconds(entry: &Value) -> Option<f64> {
    let ts = entry.get("ts")?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
}

/// Renders the timeline journal (`_timeline.jsonl` entries, in order).
pub fn render(title: &str, entries: &[Value]) -> String {
    let times: Vec<f64> = entries.iter().filter_map(seconds).collect();
    let start = times.iter().cloned().fold(f64::INFINITY, f64::min);
    let end = times.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let span = if end > start { end - start } else { 1.0 };
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |t: f64| LEFT + (t - start) / span * plot_w;

    let counters: Vec<(f64, &Value)> = entries
        .iter()
        .filter(|e| e.get("kind").and_then(Value::as_str) == Some("counters"))
        .filter_map(|e| Some((seconds(e)?, e)))
        .collect();
    let max_value = counters
        .iter()
        .flat_map(|(_, e)| {
            SERIES
                .iter()
                .filter_map(|(name, _)| e.get(*name).and_then(Value::as_f64))
        })
        .fold(1.0f64, f64::max);
    let y = |v: f64| TOP + plot_h - v / max_value * plot_h;

    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"monospace\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text x=\"{LEFT}\" y=\"18\" font-size=\"13\">{}</text>\n\
         <line x1=\"{LEFT}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/>\n\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{}\" stroke=\"#888\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{max_value}</text>\n<text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>\n\
         <text x=\"{LEFT}\" y=\"{}\">0 s</text>\n<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.0} s</text>\n",
        escape(title),
        TOP + plot_h,
        LEFT + plot_w,
        TOP + plot_h,
        TOP + plot_h,
        LEFT - 6.0,
        TOP + 4.0,
        LEFT - 6.0,
        TOP + plot_h,
        TOP + plot_h + 14.0,
        LEFT + plot_w,
        TOP + plot_h + 14.0,
        span
    );

    for (index, (name, colour)) in SERIES.iter().enumerate() {
        // Counters change in steps (the journal records each change), and hold their
        // last value to the end of the drill.
        let mut points: Vec<String> = Vec::new();
        let mut last: Option<f64> = None;
        for (t, e) in &counters {
            let Some(v) = e.get(*name).and_then(Value::as_f64) else {
                continue;
            };
            if let Some(previous) = last {
                points.push(format!("{:.1},{:.1}", x(*t), y(previous)));
            }
            points.push(format!("{:.1},{:.1}", x(*t), y(v)));
            last = Some(v);
        }
        if let Some(previous) = last {
            points.push(format!("{:.1},{:.1}", x(end), y(previous)));
            // retry_scheduled often equals failed: dashed, so both stay visible.
            let dash = if *name == "retry_scheduled" {
                " stroke-dasharray=\"6,4\""
            } else {
                ""
            };
            svg.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash} points=\"{}\"/>\n",
                points.join(" ")
            ));
        }
        let legend_y = TOP + 14.0 * index as f64;
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"3\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\">{name}</text>\n",
            WIDTH - RIGHT + 12.0,
            legend_y,
            WIDTH - RIGHT + 26.0,
            legend_y + 4.0
        ));
    }

    // Labels go to the first of four rows where they do not overlap the previous one.
    let mut row_ends = [f64::NEG_INFINITY; 4];
    let mut hidden = 0;
    // Markers are the operator's own words: they always get a label, in rows of their
    // own at the top of the plot, never counted away with the other marks.
    let mut marker_ends = [f64::NEG_INFINITY; 3];
    for entry in entries {
        let (Some(t), Some(kind)) = (seconds(entry), entry.get("kind").and_then(Value::as_str))
        else {
            continue;
        };
        let (colour, label) = match kind {
            // Docker reports kill/die around every stop; the stop and start tell the story.
            "container" if !matches!(entry["action"].as_str(), Some("stop" | "start")) => continue,
            "container" => (
                "#2563eb",
                format!(
                    "{} {}",
                    entry["service"].as_str().unwrap_or(""),
                    entry["action"].as_str().unwrap_or("")
                ),
            ),
            "insert" => (
                "#0891b2",
                format!("insert {}", entry["op"].as_str().unwrap_or("")),
            ),
            "check" if entry["status"] == "passed" => (
                "#16a34a",
                format!("✓ {}", entry["id"].as_str().unwrap_or("")),
            ),
            "freeze" => ("#6b7280", "freeze".to_string()),
            "marker" => (
                "#db2777",
                format!(
                    "✎ {}",
                    crate::sanitize::one_line(entry["note"].as_str().unwrap_or(""), 40)
                ),
            ),
            // The drill's own fault switches: the gate, the write block, a kill.
            "gate" if entry["by"] == "drill" && entry["action"] == "fault" => (
                "#ea580c",
                match entry["fault"].as_str() {
                    Some("pass") => "gate passes".to_string(),
                    Some(fault) => format!("gate: {}", crate::sanitize::one_line(fault, 30)),
                    None => "gate".to_string(),
                },
            ),
            "index" if entry["by"] == "drill" => (
                "#ea580c",
                entry["action"].as_str().unwrap_or("index").to_string(),
            ),
            "worker" if entry["action"] == "kill -9" => ("#ea580c", "worker kill -9".to_string()),
            _ => continue,
        };
        let px = x(t);
        let width = 7.0 * label.chars().count() as f64;
        if kind == "marker" {
            let row = marker_ends
                .iter()
                .position(|end| *end < px)
                .unwrap_or_else(|| {
                    // All three rows busy here: the one that frees first.
                    (0..marker_ends.len())
                        .min_by(|a, b| marker_ends[*a].total_cmp(&marker_ends[*b]))
                        .unwrap_or(0)
                });
            marker_ends[row] = px + width + 6.0;
            svg.push_str(&format!(
                "<line x1=\"{px:.1}\" y1=\"{TOP}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"{colour}\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{colour}\">{}</text>\n",
                TOP + plot_h,
                px + 3.0,
                TOP + 12.0 + 12.0 * row as f64,
                escape(&label)
            ));
            continue;
        }
        let row = row_ends.iter().position(|end| *end < px);
        let label_y = TOP + plot_h + 28.0 + 12.0 * row.unwrap_or(0) as f64;
        if let Some(row) = row {
            row_ends[row] = px + width + 6.0;
        } else {
            // No free row: the mark stays, its label is counted below.
            hidden += 1;
            svg.push_str(&format!(
                "<line x1=\"{px:.1}\" y1=\"{TOP}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-dasharray=\"3,3\"/>\n",
                TOP + plot_h
            ));
            continue;
        }
        svg.push_str(&format!(
            "<line x1=\"{px:.1}\" y1=\"{TOP}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-dasharray=\"3,3\"/>\n<text x=\"{px:.1}\" y=\"{label_y:.1}\" fill=\"{colour}\">{}</text>\n",
            TOP + plot_h,
            escape(&label)
        ));
    }
    // The first retry and the first terminal failure: the same moments as the cockpit's
    // timeline strip and the report's story.
    for moment in crate::evidence::moments::moments(entries) {
        let colour = match moment.kind {
            crate::evidence::moments::MomentKind::FirstRetry => "#d97706",
            crate::evidence::moments::MomentKind::FirstTerminal => "#7c3aed",
            _ => continue,
        };
        let px = x(start + moment.at);
        svg.push_str(&format!(
            "<circle cx=\"{px:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"{colour}\">{}</text>\n",
            TOP + plot_h,
            px + 6.0,
            TOP + plot_h - 6.0,
            escape(&moment.label)
        ));
    }
    if hidden > 0 {
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" fill=\"#6b7280\" text-anchor=\"end\">+{hidden} more marks (report.md lists every event)</text>\n",
            WIDTH - 8.0,
            HEIGHT - 8.0
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn draws_counter_lines_marks_and_escapes_text() {
        let entries = vec![
            json!({"ts": "2026-01-01T00:00:00Z", "kind": "counters", "retry_scheduled": 0.0, "failed": 0.0, "processed": 0.0}),
            json!({"ts": "2026-01-01T00:00:01Z", "kind": "container", "service": "es", "action": "stop"}),
            json!({"ts": "2026-01-01T00:00:02Z", "kind": "insert", "op": "delete"}),
            json!({"ts": "2026-01-01T00:00:05Z", "kind": "counters", "retry_scheduled": 3.0, "failed": 3.0, "processed": 1.0}),
            json!({"ts": "2026-01-01T00:00:06Z", "kind": "check", "id": "retry_delta", "status": "passed"}),
        ];
        let svg = render("es_down_connect <run>", &entries);
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("es_down_connect &lt;run&gt;"));
        assert_eq!(
            svg.matches("<polyline").count(),
            3,
            "terminal_failed has no points"
        );
        assert!(
            svg.contains("es stop")
                && svg.contains("insert delete")
                && svg.contains("✓ retry_delta")
        );
        assert!(svg.contains(">first retry</text>"), "{svg}");
    }

    #[test]
    fn a_marker_keeps_its_label_however_crowded_the_marks() {
        let mut entries =
            vec![json!({"ts": "2026-01-01T00:00:00Z", "kind": "counters", "processed": 0.0})];
        for n in 0..80 {
            let ts = format!("2026-01-01T00:00:{:02}.{}Z", n / 4 + 1, (n % 4) * 25);
            entries.push(json!({"ts": ts, "kind": "freeze"}));
        }
        entries
            .push(json!({"ts": "2026-01-01T00:00:10Z", "kind": "marker", "note": "ES is <back>"}));
        let svg = render("crowded", &entries);
        assert!(
            svg.contains("more marks"),
            "the freezes overflow their rows"
        );
        assert!(svg.contains("✎ ES is &lt;back&gt;"), "{svg}");
    }
}
