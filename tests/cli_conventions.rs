//! What users of lazydocker, k9s and bottom expect of a terminal tool: `--version` with
//! the commit, shell completions and man pages, a user config under the XDG config
//! folder, and a diagnostics log under the XDG state folder that never holds a
//! password. The real binary, in a scratch folder with its own XDG folders.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn binary(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_drill-cockpit"));
    command
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        text(&output.stderr)
    );
    text(&output.stdout)
}

#[test]
fn version_names_the_package_version_and_the_commit_it_was_built_from() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--version", "-V"] {
        let shown = succeeded(&binary(dir.path()).arg(flag).output().unwrap());
        let pattern = regex::Regex::new(&format!(
            r"^drill-cockpit {} \((?:([0-9a-f]{{7,}})(-dirty)? (\d{{4}}-\d{{2}}-\d{{2}})|unknown commit)\)\n$",
            regex::escape(env!("CARGO_PKG_VERSION"))
        ))
        .unwrap();
        let found = pattern
            .captures(&shown)
            .unwrap_or_else(|| panic!("{flag}: {shown:?}"));
        // Built from this checkout: the commit is HEAD's (build.rs reruns when it moves).
        let head = Command::new("git")
            .args([
                "-C",
                env!("CARGO_MANIFEST_DIR"),
                "log",
                "-1",
                "--format=%h %cs",
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| text(&o.stdout).trim().to_string());
        if let (Some(head), Some(commit), Some(date)) = (head, found.get(1), found.get(3)) {
            assert_eq!(format!("{} {}", commit.as_str(), date.as_str()), head);
        }
    }
}

#[test]
fn completions_are_printed_for_every_shell_and_bash_parses_its_script() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = succeeded(
            &binary(dir.path())
                .args(["completions", shell])
                .output()
                .unwrap(),
        );
        // fish names a flag without its dashes (`-l sandbox`).
        for word in [
            "drill-cockpit",
            "replay",
            "verify",
            "sandbox",
            "theme",
            "mono",
        ] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
        if shell == "bash" {
            let path = dir.path().join("drill-cockpit.bash");
            std::fs::write(&path, &script).unwrap();
            let checked = Command::new("bash").arg("-n").arg(&path).output();
            if let Ok(checked) = checked {
                assert!(checked.status.success(), "{}", text(&checked.stderr));
            }
        }
    }
    let output = binary(dir.path())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("possible values: bash, elvish, fish, powershell, zsh"));
}

#[test]
fn the_man_page_prints_and_one_page_per_command_goes_into_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let page = succeeded(&binary(dir.path()).arg("man").output().unwrap());
    assert!(page.contains(".TH drill-cockpit 1"), "{page}");
    for word in [
        "replay",
        "verify",
        "NO_COLOR",
        "RUST_LOG",
        "drill\\-cockpit.log",
        "config.toml",
    ] {
        assert!(page.contains(word), "no {word} in the man page");
    }

    let folder = dir.path().join("man1");
    let missing = binary(dir.path())
        .args(["man", "--out", "man1"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(3));
    assert!(text(&missing.stderr).contains("man1 is not a folder: create it first"));

    std::fs::create_dir(&folder).unwrap();
    let listed = succeeded(
        &binary(dir.path())
            .args(["man", "--out", "man1"])
            .output()
            .unwrap(),
    );
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in [
        "drill-cockpit.1",
        "drill-cockpit-run.1",
        "drill-cockpit-replay.1",
        "drill-cockpit-db-migrate.1",
    ] {
        assert!(names.iter().any(|n| n == name), "no {name} in {names:?}");
    }
    // What it says it wrote is what is there, each a page of its own command.
    assert_eq!(listed.lines().count(), names.len(), "{listed}");
    for name in &names {
        let body = std::fs::read_to_string(folder.join(name)).unwrap();
        let title = name.trim_end_matches(".1");
        assert!(body.contains(&format!(".TH {title} 1")), "{name}");
    }
}

/// `drill-cockpit config`'s row of `key`: (value, origin).
fn config_row(config: &str, key: &str) -> (String, String) {
    let line = config
        .lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no {key} in:\n{config}"));
    let origin_at = line.rfind('(').unwrap();
    let value = line[key.len()..origin_at].trim().to_string();
    (value, line[origin_at + 1..line.len() - 1].to_string())
}

fn write(path: &Path, body: &str) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    path.to_path_buf()
}

#[test]
fn the_user_config_sits_below_the_project_file_the_environment_and_set() {
    let dir = tempfile::tempdir().unwrap();
    let user = write(
        &dir.path().join("config/drill-cockpit/config.toml"),
        "[worker]\nbatch_size = 7\nbulk_size = 8\nmetrics_port = 9201\nhttp_port = 9202\n[cockpit]\ntheme = \"mono\"\n",
    );
    write(
        &dir.path().join("drill-cockpit.toml"),
        "[worker]\nbulk_size = 80\n",
    );
    let config = succeeded(
        &binary(dir.path())
            .env("OUTBOX_METRICS_PORT", "9301")
            .args(["config", "--set", "worker.http_port=9402"])
            .output()
            .unwrap(),
    );
    let user_origin = format!("user config {}", user.display());
    assert_eq!(
        config_row(&config, "worker.batch_size"),
        ("7".into(), user_origin.clone())
    );
    assert_eq!(
        config_row(&config, "cockpit.theme"),
        ("mono".into(), user_origin)
    );
    assert_eq!(
        config_row(&config, "worker.bulk_size"),
        ("80".into(), "file drill-cockpit.toml".into())
    );
    assert_eq!(
        config_row(&config, "worker.metrics_port"),
        ("9301".into(), "env OUTBOX_METRICS_PORT".into())
    );
    assert_eq!(
        config_row(&config, "worker.http_port"),
        ("9402".into(), "flag".into())
    );
}

#[test]
fn without_xdg_config_home_the_user_config_is_under_home() {
    let dir = tempfile::tempdir().unwrap();
    let user = write(
        &dir.path().join("home/.config/drill-cockpit/config.toml"),
        "[elastic]\nindex = \"mine\"\n",
    );
    let config = succeeded(
        &binary(dir.path())
            .env_remove("XDG_CONFIG_HOME")
            .env("HOME", dir.path().join("home"))
            .arg("config")
            .output()
            .unwrap(),
    );
    assert_eq!(
        config_row(&config, "elastic.index"),
        ("mine".into(), format!("user config {}", user.display()))
    );
}

#[test]
fn a_typo_in_the_user_config_gets_did_you_mean_naming_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let user = write(
        &dir.path().join("config/drill-cockpit/config.toml"),
        "[elastic]\nindx = \"x\"\n",
    );
    let output = binary(dir.path()).arg("config").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        format!(
            "drill-cockpit: unknown config key `elastic.indx` in user config {} (did you mean `elastic.index`?). Run `drill-cockpit config` to list the keys\n",
            user.display()
        )
    );
}

#[test]
fn help_says_where_the_user_config_and_the_diagnostics_log_are() {
    let dir = tempfile::tempdir().unwrap();
    let help = succeeded(&binary(dir.path()).arg("--help").output().unwrap());
    for words in [
        "$XDG_CONFIG_HOME/drill-cockpit/config.toml",
        "$XDG_STATE_HOME/drill-cockpit/drill-cockpit.log",
        "~/.local/state/drill-cockpit/drill-cockpit.log",
        "RUST_LOG",
        "NO_COLOR",
        "--theme <THEME>",
    ] {
        assert!(help.contains(words), "no {words} in:\n{help}");
    }
}

/// A drill that cannot reach its database: the log says so, and no password of the
/// database, Elasticsearch or the worker command is in it, at any level.
#[test]
fn the_diagnostics_log_records_what_happened_without_a_password() {
    for rust_log in [None, Some("debug")] {
        let dir = tempfile::tempdir().unwrap();
        let mut command = binary(dir.path());
        command
            .env(
                "DATABASE_URL",
                "postgresql+psycopg://drill:Pw_Secret123@127.0.0.1:1/drill",
            )
            .env("ELASTIC_URL", "http://elastic:EsPw_777@127.0.0.1:1")
            .env("DRILL_WORKER_COMMAND", "env PGPASSWORD=CmdPw_999 true")
            .env("MY_API_TOKEN", "Tok_4242")
            .args(["run", "es_down_connect", "--duration", "1s"]);
        if let Some(level) = rust_log {
            command.env("RUST_LOG", level);
        }
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
        let path = dir.path().join("state/drill-cockpit/drill-cockpit.log");
        let log = std::fs::read_to_string(&path).unwrap();
        assert!(
            log.contains("INFO drill_cockpit::cli: drill-cockpit run started"),
            "{log}"
        );
        assert!(
            log.contains(
                "cannot connect to Postgres at postgresql+psycopg://drill:***@127.0.0.1:1/drill"
            ),
            "{log}"
        );
        for secret in ["Pw_Secret123", "EsPw_777", "CmdPw_999", "Tok_4242"] {
            assert!(
                !log.contains(secret),
                "{secret} in the log ({rust_log:?}):\n{log}"
            );
        }
        // The terminal gets the program's own lines only, never a log record.
        let stderr = text(&output.stderr);
        assert!(!stderr.contains("drill_cockpit::"), "{stderr}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
