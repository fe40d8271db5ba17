//! `drill-cockpit report <run_dir> --html`: one self-contained HTML file to attach to a
//! ticket — the verdict and its checks, the counters that decided, the drill's story and
//! its timeline as inline SVG, the key log lines with their Jaeger links, and every file
//! of the run with its size and sha256. No script, no external resource: it reads the
//! same offline. Graded from the raw files like `verify` (ours by our checks, another
//! tool's by upstream's rules); it never writes into the run directory.

use std::path::Path;

use serde_json::Value;

use super::safe_read::{LOG_CAP, RunReader};
use crate::drill::{CheckOutcome, CheckStatus};
use crate::verify::{Graded, GradedRun, grade_run};

use crate::sanitize::markup as escape;

/// No script, no remote load: the page's own inline styles and inline images only.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#111}\
h1 .ok{color:#15803d}h1 .failed{color:#b91c1c}table{border-collapse:collapse;margin:1em 0;width:100%}\
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top;font-size:13px}\
th{background:#f3f4f6}.passed{color:#15803d}.failed{color:#b91c1c}.pending,.not{color:#92400e}\
code,pre{font-family:ui-monospace,monospace;font-size:12px}pre{background:#f9fafb;padding:8px;overflow-x:auto}\
.banner{background:#fde047;padding:6px 10px;font-weight:bold}";

fn status_class(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Passed => "passed",
        CheckStatus::Failed => "failed",
        CheckStatus::Pending => "pending",
        CheckStatus::NotRecorded => "not",
    }
}

/// The Jaeger UI the run was recorded against (its recipe), else the contract's default.
fn jaeger_base(recipe: Option<&Value>) -> String {
    recipe
        .and_then(|recipe| recipe["profile"]["jaeger.url"].as_str().map(str::to_string))
        .unwrap_or_else(|| "http://localhost:16686".into())
}

/// The trace id as a link into Jaeger when `base` is an http(s) URL; any other scheme
/// (`javascript:`, `data:`, …) never becomes an `href`: the id is shown as text.
fn trace_cell(base: &str, id: &str) -> String {
    let base = base.trim();
    let scheme = base
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http" | "https") => format!(
            "<a href=\"{}\">{id}</a>",
            escape(&crate::jaeger::trace_link(base, id))
        ),
        _ => escape(id),
    }
}

/// The run as one HTML page.
pub fn render_run(dir: &Path) -> Result<String, String> {
    let graded = grade_run(dir)?;
    let run_id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let reader = RunReader::new(dir);
    let recipe: Option<Value> = reader.json(Path::new("_recipe.json"));
    let checks = graded_checks(&graded);
    let timeline = journal(&reader);
    let sections = [
        head(graded.scenario(), &run_id),
        banner(recipe.as_ref()),
        verdict_heading(&graded, &run_id),
        checklist(checks),
        problems(&graded.problems),
        counters(checks),
        story(&timeline),
        timeline_svg(&timeline, graded.scenario(), &run_id),
        key_log_lines(dir, &jaeger_base(recipe.as_ref())),
        manifest(dir, &reader),
        "</body></html>\n".to_string(),
    ];
    Ok(sections.concat())
}

fn graded_checks(graded: &GradedRun) -> &[CheckOutcome] {
    match &graded.graded {
        Graded::Ours(verdict) => &verdict.checks,
        Graded::Upstream { grade, .. } => &grade.checks,
    }
}

/// Who graded the run, in the page's words.
fn graded_by(graded: &GradedRun) -> &'static str {
    match &graded.graded {
        Graded::Ours(_) => "drill-cockpit's checks (CONTRACT §6)",
        Graded::Upstream { .. } => "upstream's own rules",
    }
}

/// `_timeline.jsonl`, its readable lines; another tool's run has none: its story from
/// what its files record.
fn journal(reader: &RunReader) -> Vec<Value> {
    match reader.text(Path::new("_timeline.jsonl"), LOG_CAP) {
        Some(text) => text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect(),
        None => super::foreign_story::journal(reader),
    }
}

fn head(scenario: &str, run_id: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\"><title>{} — {}</title><style>{STYLE}</style></head><body>\n",
        escape(scenario),
        escape(run_id)
    )
}

/// The sandbox's banner, when the run was recorded there.
fn banner(recipe: Option<&Value>) -> String {
    recipe
        .and_then(|r| r["sandbox"]["banner"].as_str())
        .map(|banner| format!("<p class=\"banner\">{}</p>\n", escape(banner)))
        .unwrap_or_default()
}

fn verdict_heading(graded: &GradedRun, run_id: &str) -> String {
    format!(
        "<h1>Drill <code>{}</code> — run <code>{}</code>: <span class=\"{}\">{}</span></h1>\n<p>Graded from the run's raw files by {}.</p>\n",
        escape(graded.scenario()),
        escape(run_id),
        if graded.ok() { "ok" } else { "failed" },
        graded.verdict_word(),
        graded_by(graded)
    )
}

fn checklist(checks: &[CheckOutcome]) -> String {
    let rows: String = checks
        .iter()
        .map(|check| {
            format!(
                "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>\n",
                escape(check.title),
                status_class(check.status),
                check.status.label(),
                escape(&crate::sanitize::one_line(&check.observed, 400))
            )
        })
        .collect();
    format!(
        "<h2>Checklist</h2>\n<table><tr><th>check</th><th>status</th><th>observed</th></tr>\n{rows}</table>\n"
    )
}

fn problems(problems: &[String]) -> String {
    if problems.is_empty() {
        return String::new();
    }
    let items: String = problems
        .iter()
        .map(|problem| {
            format!(
                "<li>{}</li>\n",
                escape(&crate::sanitize::one_line(problem, 300))
            )
        })
        .collect();
    format!("<h2>Skipped or unreadable evidence</h2>\n<ul>\n{items}</ul>\n")
}

/// The counters that decided: before, after and Δ of each counter check.
fn counters(checks: &[CheckOutcome]) -> String {
    let number = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let rows: String = checks
        .iter()
        .filter(|c| c.delta.is_some())
        .map(|check| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(check.title),
                number(check.before),
                number(check.after),
                number(check.delta)
            )
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "<h2>Counters</h2>\n<table><tr><th>check</th><th>before</th><th>after</th><th>Δ</th></tr>\n{rows}</table>\n"
    )
}

fn story(timeline: &[Value]) -> String {
    let items: String = super::moments::moments(timeline)
        .iter()
        .map(|moment| {
            format!(
                "<li>+{:.1} s {} {}</li>\n",
                moment.at,
                moment.kind.glyph(),
                escape(&moment.label)
            )
        })
        .collect();
    if items.is_empty() {
        return String::new();
    }
    format!("<h2>The drill's story</h2>\n<ul>\n{items}</ul>\n")
}

fn timeline_svg(timeline: &[Value], scenario: &str, run_id: &str) -> String {
    if timeline.is_empty() {
        return String::new();
    }
    // Our own SVG, with every text from evidence escaped: safe to inline.
    format!(
        "<h2>Timeline</h2>\n{}",
        super::svg::render(&format!("{scenario} — {run_id}"), timeline)
    )
}

fn is_key_log_line(line: &str) -> bool {
    ["ERROR", "WARNING", "Observability schema", "Reclaimed"]
        .iter()
        .any(|key| line.contains(key))
}

/// A log line's message (the whole line when it is not JSON) and its trace cell.
fn key_log_row(line: &str, base: &str) -> String {
    let json: Option<Value> = serde_json::from_str(line).ok();
    let message = json
        .as_ref()
        .and_then(|j| j["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| line.to_string());
    let trace = json
        .as_ref()
        .and_then(|j| j["trace_id"].as_str())
        .filter(|id| id.chars().all(|c| c.is_ascii_hexdigit()) && !id.is_empty());
    format!(
        "<tr><td><code>{}</code></td><td>{}</td></tr>\n",
        escape(&crate::sanitize::one_line(&message, 300)),
        trace.map(|id| trace_cell(base, id)).unwrap_or_default()
    )
}

fn key_log_lines(dir: &Path, base: &str) -> String {
    let observations = super::read::read_run_dir(dir)
        .map(|run| run.observations)
        .unwrap_or_default();
    let rows: String = observations
        .log
        .iter()
        .flatten()
        .filter(|line| is_key_log_line(line))
        .take(40)
        .map(|line| key_log_row(line, base))
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!("<h2>Key log lines</h2>\n<table><tr><th>line</th><th>trace</th></tr>\n{rows}</table>\n")
}

/// Every file of the run with its size and sha256: from `manifest.json`, else listed now.
fn manifest(dir: &Path, reader: &RunReader) -> String {
    let recorded = reader.is_file(Path::new("manifest.json"));
    let manifest: Value = reader
        .json(Path::new("manifest.json"))
        .unwrap_or_else(|| super::manifest::manifest(dir, &[]));
    let files = manifest["files"].as_array().cloned().unwrap_or_default();
    let rows: String = files
        .iter()
        .map(|file| {
            format!(
                "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>\n",
                escape(file["path"].as_str().unwrap_or("")),
                file["size"].as_u64().unwrap_or(0),
                escape(file["sha256"].as_str().unwrap_or(""))
            )
        })
        .collect();
    format!(
        "<h2>Manifest</h2>\n<p>{} file(s){}.</p>\n<table><tr><th>file</th><th>bytes</th><th>sha256</th></tr>\n{rows}</table>\n",
        files.len(),
        if recorded {
            ", as listed in manifest.json when the session closed"
        } else {
            ", listed now (the run has no manifest.json)"
        }
    )
}

/// Writes the page to `out` (never over an existing file); returns where.
pub fn write(dir: &Path, out: Option<&Path>) -> Result<std::path::PathBuf, String> {
    let target = match out {
        Some(path) => path.to_path_buf(),
        None => std::path::PathBuf::from(format!(
            "report-{}-{}.html",
            dir.parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "run".into()),
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "run".into())
        )),
    };
    // Said before the page is rendered; `create_new` below is what guarantees it.
    if target.symlink_metadata().is_ok() {
        return Err(exists(&target, out.is_some()));
    }
    let page = render_run(dir)?;
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => exists(&target, out.is_some()),
            std::io::ErrorKind::NotFound => format!(
                "cannot write {}: its folder does not exist; create it or choose another --out path",
                crate::sanitize::path(&target)
            ),
            _ => format!(
                "cannot write {} ({e}): choose another --out path",
                crate::sanitize::path(&target)
            ),
        })?;
    file.write_all(page.as_bytes())
        .map_err(|e| format!("{}: {e}", crate::sanitize::path(&target)))?;
    Ok(target)
}

/// The report's target is taken: never written over.
fn exists(target: &Path, given: bool) -> String {
    let shown = crate::sanitize::path(target);
    if given {
        format!(
            "{shown} exists; drill-cockpit never overwrites evidence: choose another --out path or remove it"
        )
    } else {
        format!(
            "{shown} exists (this run's default report name); drill-cockpit never overwrites evidence: pass --out <another path> or remove it"
        )
    }
}
