//! Numbers from outside (issue 18): every numeric setting and duration flag is
//! range-checked at load, with the key, the value, its origin and the allowed range in
//! the error, and exit 2: never a panic (`--duration 1e30s` and
//! `--set worker.max_backoff_seconds=1e30` used to end in exit 101).
//!
//! Cases per property: `PROPTEST_CASES` (CI's default run uses the number below).

use std::collections::BTreeMap;
use std::process::Command;

use drill_cockpit::config::spec::{Kind, SETTINGS};
use drill_cockpit::config::{LoadOptions, Profile};
use proptest::prelude::*;

const CASES: u32 = 1_000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(CASES),
        ..ProptestConfig::default()
    }
}

fn numeric_keys() -> Vec<&'static str> {
    SETTINGS
        .iter()
        .filter(|spec| {
            matches!(
                spec.kind,
                Kind::Port | Kind::Count { .. } | Kind::Seconds { .. }
            )
        })
        .map(|spec| spec.key)
        .collect()
}

/// Huge, negative, NaN, infinite, exponents, empty and non-numeric text.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "1e30",
            "1e309",
            "-1e30",
            "1e-30",
            "-1",
            "-0",
            "0",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "infinity",
            "",
            " ",
            "abc",
            "1_000",
            "0x10",
            "18446744073709551616",
            "4294967296",
            "65536",
            "+5",
            "5.",
            ".5",
            "1e3",
            "86400.0001",
        ])
        .prop_map(str::to_string),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| format!("{n:e}")),
        "[0-9.eE+-]{0,12}",
        "\\PC{0,12}",
    ]
}

fn load(overrides: Vec<String>) -> Result<Profile, String> {
    Profile::load(&LoadOptions {
        // An empty profile file: the loader never reads ./drill-cockpit.toml here.
        config_path: Some(empty_profile()),
        overrides,
        environment: Some(BTreeMap::new()),
    })
    .map_err(|error| error.to_string())
}

fn empty_profile() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("config-numbers-{}.toml", std::process::id()));
    if !path.exists() {
        std::fs::write(&path, "").unwrap();
    }
    path
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_numeric_setting_loads_or_names_its_key(
        key in prop::sample::select(numeric_keys()),
        value in number_text(),
    ) {
        match load(vec![format!("{key}={value}")]) {
            Ok(profile) => {
                // What loaded is in range: no duration beyond a day, no count beyond u32.
                let tuning = &profile.tuning;
                for duration in [tuning.lease, tuning.max_backoff, tuning.max_processing] {
                    prop_assert!(duration.as_secs() <= 86_400, "{key}={value:?} gave {duration:?}");
                }
            }
            Err(message) => {
                prop_assert!(message.contains(&format!("`{key}`")), "{message}");
                prop_assert!(message.contains("(from flag)"), "{message}");
                prop_assert!(message.contains("expected"), "{message}");
            }
        }
    }
}

#[test]
fn max_backoff_1e30_is_refused_with_key_value_origin_and_range() {
    let message = load(vec!["worker.max_backoff_seconds=1e30".into()]).unwrap_err();
    assert_eq!(
        message,
        "config key `worker.max_backoff_seconds` = \"1e30\" (from flag): expected a number of seconds from 0 to 86400, e.g. 0.25"
    );
}

#[test]
fn a_count_beyond_its_range_is_refused() {
    let message = load(vec!["worker.batch_size=4294967297".into()]).unwrap_err();
    assert!(
        message.contains("expected a whole number from 1 to 100000"),
        "{message}"
    );
}

fn drill_cockpit(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"))
        .args(args)
        .current_dir(dir.path())
        .env_remove("OUTBOX_MAX_BACKOFF_SECONDS")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn run_with_duration_1e30s_exits_2_before_starting_anything() {
    let (code, stderr) = drill_cockpit(&["run", "es_down_connect", "--duration", "1e30s"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("1e30s"), "{stderr}");
    assert!(stderr.contains("--duration"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn run_with_recovery_timeout_nan_exits_2() {
    let (code, stderr) = drill_cockpit(&["run", "es_down_connect", "--recovery-timeout", "NaN"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("\"NaN\""), "{stderr}");
}

#[test]
fn config_with_max_backoff_1e30_exits_2() {
    let (code, stderr) = drill_cockpit(&["config", "--set", "worker.max_backoff_seconds=1e30"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("`worker.max_backoff_seconds` = \"1e30\""),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
