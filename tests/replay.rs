//! `replay`: a drill recorded headless (in the sandbox) played back at 60× in the real
//! binary under tmux; at the end of the run its checklist and counters are the
//! recorded verdict's. And upstream's own run, played back from its files alone.

mod common;

use std::process::Command;
use std::time::Duration;

use common::tmux::{Tmux, line_with};

fn env() -> Vec<(String, String)> {
    vec![("TERM".to_string(), "xterm-256color".to_string())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_drill_replays_to_the_same_checklist_and_counters() {
    if !common::sandbox::available() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let run = common::sandbox::record(&work.path().join("snapshots"), "es_down_connect");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("_result.json")).unwrap()).unwrap();
    let manifest_before = std::fs::read_to_string(run.join("manifest.json")).unwrap();

    let args = vec![
        "replay".to_string(),
        run.display().to_string(),
        "--speed".into(),
        "60".into(),
    ];
    let Some(tmux) = Tmux::start(&env(), &args) else {
        return;
    };
    let screen = tmux
        .wait_for("the end of the run", Duration::from_secs(30), |s| {
            s.contains("end of run")
        })
        .await;
    assert!(screen.contains("SANDBOX · simulated Elasticsearch and trace store"));
    assert!(screen.contains("Timeline · replay"), "{screen}");
    // The checklist at the end is the recorded verdict, check by check.
    for check in result["verdict"].as_array().unwrap() {
        let title = check["title"].as_str().unwrap();
        let head: String = title.chars().take(24).collect();
        let line = line_with(&screen, &format!("✓ {head}"))
            .unwrap_or_else(|| panic!("no passed `{title}` on the replay's checklist:\n{screen}"));
        assert_eq!(check["status"], "passed", "{line}");
    }
    // The counters as recorded: retry_scheduled{es_connect} ends at its recorded Δ.
    let delta = result["observed"]["outbox_retry_scheduled_total_reason_es_connect_or_unreachable"]
        ["delta"]
        .as_f64()
        .unwrap();
    let row =
        line_with(&screen, "retry_scheduled  es_connect").unwrap_or_else(|| panic!("{screen}"));
    assert!(row.contains(&format!("Δ{delta}")), "{row}: Δ{delta}");
    assert!(screen.contains("Observability schema: labs-009-v2"));

    // Back to the first moment (← steps over the story), then quit.
    tmux.keys("Left");
    tmux.wait_for("a step back", Duration::from_secs(5), |s| {
        s.contains("paused") || s.contains("end of run")
    })
    .await;
    tmux.keys("q");
    tmux.wait_for("a clean exit", Duration::from_secs(10), |s| {
        s.contains("EXIT=0")
    })
    .await;
    // Read-only: the run is as it was.
    assert_eq!(
        std::fs::read_to_string(run.join("manifest.json")).unwrap(),
        manifest_before
    );
    let verify = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(["verify", &run.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstreams_run_replays_from_its_files() {
    let run = testkit::env::fixtures_dir().join("upstream-run-es_down_connect");
    let args = vec![
        "replay".to_string(),
        run.display().to_string(),
        "--speed".into(),
        "960".into(),
    ];
    let Some(tmux) = Tmux::start(&env(), &args) else {
        return;
    };
    let screen = tmux
        .wait_for("the end of upstream's run", Duration::from_secs(30), |s| {
            s.contains("end of run")
        })
        .await;
    assert!(screen.contains("Checklist · es_down_connect"), "{screen}");
    // Its counters come from its own metrics files, its log from its worker's log.
    assert!(screen.contains("retry_scheduled  es_connect"), "{screen}");
    assert!(screen.contains("Worker log"), "{screen}");
    // Its story on the timeline strip, from its files: the fault, the first retry, the clean.
    assert!(screen.contains("start es"), "{screen}");
    assert!(screen.contains("first retry"), "{screen}");
    // Only what was recorded, as live: its JSON lines compact, its database password
    // masked, no live placeholder, uptimes on the run's own clock.
    assert!(
        screen.contains("ERROR   Failed to process outbox event"),
        "{screen}"
    );
    assert!(!screen.contains("{\"ts\""), "{screen}");
    assert!(!screen.contains("wordloom:wordloom@"), "{screen}");
    assert!(
        screen.contains("[OK] Database: postgresql+psycopg://wordloom:***@"),
        "{screen}"
    );
    for live in [
        "connecting to",
        "press i",
        "waiting for the first scrape",
        "starting …",
    ] {
        assert!(!screen.contains(live), "{live}: {screen}");
    }
    tmux.keys("q");
    tmux.wait_for("a clean exit", Duration::from_secs(10), |s| {
        s.contains("EXIT=0")
    })
    .await;
}

/// The SGR parameters of a captured screen that set a colour (foreground, background,
/// 256-colour or RGB); 39/49 (back to the default colour) do not.
fn colour_parameters(captured: &str) -> Vec<String> {
    let mut found = Vec::new();
    for sequence in captured.split("\u{1b}[").skip(1) {
        let Some(end) = sequence.find(|c: char| !(c.is_ascii_digit() || c == ';' || c == ':'))
        else {
            continue;
        };
        if !sequence[end..].starts_with('m') {
            continue;
        }
        let params = &sequence[..end];
        let colour = params.split(';').any(|p| {
            p.split(':')
                .next()
                .and_then(|n| n.parse::<u16>().ok())
                .is_some_and(|n| matches!(n, 30..=38 | 40..=48 | 90..=97 | 100..=107))
        });
        if colour {
            found.push(params.to_string());
        }
    }
    found
}

/// NO_COLOR (no-color.org) reaches the real terminal: the replay's screen carries bold
/// and reverse but no colour; `--theme color` brings colour back despite it, and
/// `--theme mono` needs no NO_COLOR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_color_draws_the_replay_without_a_colour_and_theme_color_overrides_it() {
    let run = testkit::env::fixtures_dir().join("upstream-run-es_down_connect");
    let state = tempfile::tempdir().unwrap();
    // (NO_COLOR set, --theme, colour expected)
    for (no_color, theme, coloured) in [
        (true, None, false),
        (true, Some("color"), true),
        (false, Some("mono"), false),
    ] {
        let mut env = env();
        if no_color {
            env.push(("NO_COLOR".into(), "1".into()));
        }
        env.push(("XDG_STATE_HOME".into(), state.path().display().to_string()));
        let mut args = vec![
            "replay".to_string(),
            run.display().to_string(),
            "--speed".into(),
            "960".into(),
        ];
        if let Some(theme) = theme {
            args.extend(["--theme".to_string(), theme.to_string()]);
        }
        let Some(tmux) = Tmux::start(&env, &args) else {
            return;
        };
        tmux.wait_for("the end of upstream's run", Duration::from_secs(30), |s| {
            s.contains("end of run")
        })
        .await;
        let captured = tmux.screen_with_escapes();
        let colours = colour_parameters(&captured);
        if coloured {
            assert!(
                !colours.is_empty(),
                "--theme color drew no colour:\n{captured}"
            );
        } else {
            assert!(
                colours.is_empty(),
                "NO_COLOR, yet colours {colours:?}:\n{captured}"
            );
            // The focus and the verdict still stand out, by modifiers alone.
            assert!(
                captured.contains("\u{1b}[1m") || captured.contains(";1m"),
                "{captured}"
            );
        }
        tmux.keys("q");
        tmux.wait_for("a clean exit", Duration::from_secs(10), |s| {
            s.contains("EXIT=0")
        })
        .await;
    }
}
