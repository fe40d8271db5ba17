//! `report --html`: a recorded drill (headless, in the sandbox) and one of upstream's
//! runs, each as one self-contained HTML file, rendered by a real headless browser
//! (Debian's chromium) and read back from its DOM and a screenshot.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(output) = Command::new("which").arg(name).output()
            && output.status.success()
        {
            return Some(PathBuf::from(
                String::from_utf8_lossy(&output.stdout).trim().to_string(),
            ));
        }
    }
    testkit::env::unavailable(
        "a headless browser (chromium)",
        "apt-get install chromium; scripts/test does",
    )
}

fn report(run: &Path, out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(["report", &run.display().to_string(), "--html", "--out"])
        .arg(out)
        .output()
        .unwrap()
}

/// The page as the browser built it (scripts would run; there are none).
fn rendered_dom(browser: &Path, page: &Path) -> String {
    let output = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_recorded_drill_renders_in_a_headless_browser() {
    let Some(browser) = chromium() else { return };
    if !common::sandbox::available() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let run = common::sandbox::record(&work.path().join("snapshots"), "es_429_inject");
    let page = work.path().join("report.html");
    let written = report(&run, &page);
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing to fetch, nothing to run.
    for outside in ["<script", "src=\"http", "href=\"http://fonts", "<link"] {
        assert!(!html.contains(outside), "{outside}");
    }
    let dom = rendered_dom(&browser, &page);
    assert!(dom.contains("SANDBOX · simulated Elasticsearch and trace store"));
    assert!(dom.contains("<span class=\"ok\">PASSED</span>"), "{dom}");
    assert!(dom.contains("retry_scheduled{es_429} Δ≥1"));
    assert!(dom.contains("The drill's story") && dom.contains("gate: abort 429"));
    assert!(dom.contains("<svg"), "the timeline is inline");
    assert!(dom.contains("files unchanged since manifest.json"));
    assert!(dom.contains("_result.json"), "the manifest lists the files");
    // The key log lines link to Jaeger by trace id.
    assert!(dom.contains("/trace/"), "{dom}");
    // And it paints: a screenshot of the page is a real image.
    let shot = work.path().join("report.png");
    let painted = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1200,1600",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(painted.status.success());
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
    // Never over an existing file.
    let again = report(&run, &page);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains(
        "exists; drill-cockpit never overwrites evidence: choose another --out path or remove it"
    ));
}

#[test]
fn upstreams_run_is_reported_by_upstreams_rules() {
    let run = testkit::env::fixtures_dir().join("upstream-run-es_down_connect");
    let work = tempfile::tempdir().unwrap();
    let page = work.path().join("upstream.html");
    let written = report(&run, &page);
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("upstream's own rules"), "{html}");
    assert!(html.contains("<h2>Manifest</h2>"));
    assert!(html.contains("listed now (the run has no manifest.json)"));
    // Its story and timeline, from what its files record (it wrote no journal).
    assert!(html.contains("<h2>The drill's story</h2>"), "{html}");
    assert!(html.contains("es stop (its time is not recorded"), "{html}");
    assert!(html.contains("first retry"), "{html}");
    assert!(html.contains("start es"), "{html}");
    assert!(html.contains("<svg"), "{html}");
    let Some(browser) = chromium() else { return };
    let dom = rendered_dom(&browser, &page);
    assert!(dom.contains("es_down_connect"));
}

/// Upstream's fixture run copied to a temp dir, its recipe recorded against `jaeger_url`
/// and `extra_log` appended to its worker log.
fn hostile_run(work: &Path, jaeger_url: &str, extra_log: &str) -> PathBuf {
    let run = work.join("es_down_connect").join("20260214T184133-A3");
    common::copy_dir(
        &testkit::env::fixtures_dir().join("upstream-run-es_down_connect"),
        &run,
    );
    let recipe_path = run.join("_recipe.json");
    let mut recipe: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&recipe_path).unwrap()).unwrap();
    recipe["profile"] = serde_json::json!({ "jaeger.url": jaeger_url });
    std::fs::write(&recipe_path, recipe.to_string()).unwrap();
    let log = std::fs::read_dir(run.join("_logs"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str(extra_log);
    std::fs::write(&log, text).unwrap();
    run
}

fn page_of(run: &Path, work: &Path) -> String {
    let page = work.join("report.html");
    let written = report(run, &page);
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    std::fs::read_to_string(&page).unwrap()
}

#[test]
fn a_javascript_jaeger_url_never_becomes_a_link_and_the_page_has_a_csp() {
    let work = tempfile::tempdir().unwrap();
    let run = hostile_run(work.path(), "javascript:alert(document.cookie)//", "");
    let html = page_of(&run, work.path());
    assert!(!html.to_lowercase().contains("javascript:"), "{html}");
    assert!(
        !html.contains("<a href"),
        "no trace link without an http(s) Jaeger: {html}"
    );
    // The trace ids are still there, as text.
    assert!(html.contains("18bef09d08385a0cfe337a13949b1ed4"), "{html}");
    assert!(html.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
    ));
}

#[test]
fn an_http_jaeger_url_still_links_each_trace() {
    let work = tempfile::tempdir().unwrap();
    let run = hostile_run(work.path(), "https://jaeger.example:16686/", "");
    let html = page_of(&run, work.path());
    assert!(
        html.contains(
            "<a href=\"https://jaeger.example:16686/trace/18bef09d08385a0cfe337a13949b1ed4\">"
        ),
        "{html}"
    );
}

#[test]
fn escape_and_bidi_characters_of_a_log_line_never_reach_the_page() {
    let work = tempfile::tempdir().unwrap();
    let line = "{\"level\": \"ERROR\", \"message\": \"evil \\u001b[31mred\\u001b[0m \\u202egnp.exe \\u0007bell\", \"trace_id\": \"abcdef\"}\n";
    let run = hostile_run(work.path(), "http://localhost:16686", line);
    // The same characters in the timeline (drawn as SVG) and in a file's name (the manifest).
    std::fs::write(
        run.join("_timeline.jsonl"),
        "{\"ts\": \"2026-02-14T10:42:30Z\", \"kind\": \"counters\", \"processed\": 0}\n\
         {\"ts\": \"2026-02-14T10:42:31Z\", \"kind\": \"container\", \"service\": \"es\\u001b[2J\\u202eevil\", \"action\": \"stop\"}\n",
    )
    .unwrap();
    std::fs::write(run.join("note\u{1b}[31m\u{202e}.txt"), "x").unwrap();
    let html = page_of(&run, work.path());
    assert!(
        html.contains("evil red gnp.exe bell"),
        "the line is shown: {html}"
    );
    assert!(
        html.contains("<svg") && html.contains("esevil stop"),
        "{html}"
    );
    assert!(html.contains("note.txt"), "{html}");
    assert!(!html.contains('\u{1b}'), "ESC in the page");
    assert!(!html.contains('\u{202e}'), "RLO in the page");
    assert!(!html.contains('\u{7}'), "BEL in the page");
}
