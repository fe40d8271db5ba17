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
    assert!(String::from_utf8_lossy(&again.stderr).contains("never written over"));
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
    let Some(browser) = chromium() else { return };
    let dom = rendered_dom(&browser, &page);
    assert!(dom.contains("es_down_connect"));
}
