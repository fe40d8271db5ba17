//! `report --html`: a recorded drill (headless, in the sandbox) and one of upstream's
//! runs, each as one self-contained HTML file, rendered by a real headless browser
//! (Debian's chromium) and read back from its DOM and a screenshot. A drill's report
//! and its `timeline.svg` are also shot at 800 and 1400 px wide, decoded and checked
//! for paint and for both of the coinciding retry/failed lines; the PNGs are kept in
//! `<cargo target dir>/screenshots/` for a reviewer.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// The longest one browser run may take: a loaded CI machine's cold browser start is a
/// few seconds; past this the browser hangs and is killed.
const BROWSER_DEADLINE: Duration = Duration::from_secs(120);

/// Headless Chromium on `page` with `args`, in a profile of its own, with flags that
/// hold as root and without a GPU; killed past the deadline. Returns its stdout.
fn headless(browser: &Path, page: &Path, args: &[String]) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let (stdout, stderr) = (scratch.path().join("stdout"), scratch.path().join("stderr"));
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            scratch.path().join("profile").display()
        ))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        // Files, not pipes: a chatty browser never blocks on a full pipe while we wait.
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", browser.display()));
    let deadline = Instant::now() + BROWSER_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium {args:?} did not finish on {} within {BROWSER_DEADLINE:?}: killed",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "chromium {args:?} on {}: {status}: {}",
        page.display(),
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    std::fs::read_to_string(&stdout).unwrap()
}

/// The page as the browser built it (scripts would run; there are none).
fn rendered_dom(browser: &Path, page: &Path) -> String {
    headless(browser, page, &["--dump-dom".to_string()])
}

/// `page` as a `width`×`height` PNG at `out`.
fn screenshot(browser: &Path, page: &Path, width: u32, height: u32, out: &Path) {
    let _ = std::fs::remove_file(out);
    headless(
        browser,
        page,
        &[
            "--force-device-scale-factor=1".to_string(),
            format!("--window-size={width},{height}"),
            format!("--screenshot={}", out.display()),
        ],
    );
    assert!(out.is_file(), "chromium made no {}", out.display());
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
    screenshot(&browser, &page, 1200, 1600, &shot);
    decode(&shot).assert_painted("the page");
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

/// Where screenshots are kept for a reviewer: `<cargo target dir>/screenshots/`.
fn screenshots_dir() -> PathBuf {
    let binary = Path::new(env!("CARGO_BIN_EXE_drill-cockpit"));
    let target = binary
        .parent()
        .and_then(Path::parent)
        .expect("the binary lies in <target>/<profile>/");
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A decoded screenshot: its size and RGB pixels.
struct Picture {
    width: u32,
    height: u32,
    rgb: Vec<[u8; 3]>,
}

fn decode(png_file: &Path) -> Picture {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_file).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buffer).unwrap();
    assert_eq!(
        frame.bit_depth,
        png::BitDepth::Eight,
        "{}",
        png_file.display()
    );
    let channels = frame.color_type.samples();
    assert!(channels >= 3, "{:?}", frame.color_type);
    let rgb = buffer[..frame.buffer_size()]
        .chunks(channels)
        .map(|px| [px[0], px[1], px[2]])
        .collect();
    Picture {
        width: frame.width,
        height: frame.height,
        rgb,
    }
}

impl Picture {
    /// How many pixels are within `tolerance` of `colour` on every channel.
    fn count_near(&self, colour: [u8; 3], tolerance: u8) -> usize {
        self.rgb
            .iter()
            .filter(|px| (0..3).all(|i| px[i].abs_diff(colour[i]) <= tolerance))
            .count()
    }

    fn distinct_colours(&self) -> usize {
        self.rgb
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    }

    /// Painted, not blank: many colours, and a real share of the pixels not white.
    fn assert_painted(&self, what: &str) {
        let inked = self.rgb.len() - self.count_near([255, 255, 255], 8);
        assert!(
            self.distinct_colours() >= 32 && inked * 100 >= self.rgb.len(),
            "{what} looks blank: {} colours, {inked} of {} pixels inked",
            self.distinct_colours(),
            self.rgb.len()
        );
    }
}

/// retry_scheduled's orange (#d97706) and failed's band (#dc2626 at 35% on white).
const RETRY_ORANGE: [u8; 3] = [0xd9, 0x77, 0x06];
const FAILED_BAND: [u8; 3] = [243, 179, 179];

fn assert_lines_show(picture: &Picture, file: &Path) {
    let orange = picture.count_near(RETRY_ORANGE, 40);
    let band = picture.count_near(FAILED_BAND, 24);
    assert!(
        orange >= 200 && band >= 1_000,
        "{}: {orange} pixels of the retry_scheduled line, {band} of the failed band",
        file.display()
    );
}

#[test]
fn a_drills_report_and_timeline_paint_legibly_at_two_widths() {
    let Some(browser) = chromium() else { return };
    if !common::sandbox::available() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    // A: ES stopped, so retry_scheduled and failed rise together (the lines coincide).
    let run = common::sandbox::record(&work.path().join("snapshots"), "es_down_connect");
    let markdown = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(
        markdown.contains("| retry_scheduled{es_connect\\|es_unreachable} Δ≥1 | passed |"),
        "{markdown}"
    );
    for debug in ["Exited {", "Some(", "None)"] {
        assert!(!markdown.contains(debug), "{debug} in {markdown}");
    }
    let page = work.path().join("report.html");
    let written = report(&run, &page);
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    let shots = screenshots_dir();
    for width in [800, 1400] {
        let timeline = shots.join(format!("timeline-{width}.png"));
        screenshot(&browser, &run.join("timeline.svg"), width, 560, &timeline);
        let picture = decode(&timeline);
        assert_eq!((picture.width, picture.height), (width, 560));
        picture.assert_painted(&timeline.display().to_string());
        // Both lines show where they coincide: the dashed orange over the pale red band.
        // The legend's swatches alone are under 40 and 200 pixels: these counts need
        // the lines (the timeline before the fix, its retry line under failed's, had 30
        // orange pixels and no band).
        assert_lines_show(&picture, &timeline);

        let whole = shots.join(format!("report-{width}.png"));
        screenshot(&browser, &page, width, 2000, &whole);
        let picture = decode(&whole);
        assert_eq!((picture.width, picture.height), (width, 2000));
        picture.assert_painted(&whole.display().to_string());
        assert_lines_show(&picture, &whole);
        eprintln!("screenshot: {}", timeline.display());
        eprintln!("screenshot: {}", whole.display());
    }
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
