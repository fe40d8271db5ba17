//! Merging the layers and checking every value against its kind.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::database_url;
use super::secrets::mask_text;
use super::spec::{self, Kind, SETTINGS};

/// Where a value came from, shown by `drill-cockpit config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    /// The user's own defaults: `$XDG_CONFIG_HOME/drill-cockpit/config.toml`.
    UserFile(PathBuf),
    /// The project's file: `--config PATH` or `./drill-cockpit.toml`.
    File(PathBuf),
    Env(&'static str),
    Flag,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::UserFile(path) => write!(f, "user config {}", path.display()),
            Origin::File(path) => write!(f, "file {}", path.display()),
            Origin::Env(name) => write!(f, "env {name}"),
            Origin::Flag => write!(f, "flag"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read: the message names it, why, and the fix (the OS
    /// error is said once, in words, not chained a second time).
    #[error("{message}")]
    Read { path: PathBuf, message: String },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error(
        "unknown config key `{key}` in {origin}{hint}. Run `drill-cockpit config` to list the keys"
    )]
    UnknownKey {
        key: String,
        origin: Origin,
        hint: String,
    },
    #[error("config key `{key}` = {value:?} (from {origin}): expected {expected}")]
    BadValue {
        key: &'static str,
        value: String,
        origin: Origin,
        expected: String,
    },
    #[error("--set takes KEY=VALUE, got {0:?}")]
    BadFlag(String),
}

/// What the command line contributes to loading.
#[derive(Debug, Default, Clone)]
pub struct LoadOptions {
    /// `--config PATH`; without it `./drill-cockpit.toml` is read when present. The
    /// user config (`$XDG_CONFIG_HOME/drill-cockpit/config.toml`, from `environment`)
    /// is read below it either way.
    pub config_path: Option<PathBuf>,
    /// `--set key=value` pairs, applied last.
    pub overrides: Vec<String>,
    /// Whether to read the process environment (tests pass their own).
    pub environment: Option<BTreeMap<String, String>>,
}

/// Every setting's final text and origin, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    values: BTreeMap<&'static str, (String, Origin)>,
}

impl Settings {
    pub fn load(options: &LoadOptions) -> Result<Settings, ConfigError> {
        let mut values: BTreeMap<&'static str, (String, Origin)> = SETTINGS
            .iter()
            .map(|spec| (spec.key, (spec.default.to_string(), Origin::Default)))
            .collect();

        let environment = match &options.environment {
            Some(env) => env.clone(),
            None => std::env::vars().collect(),
        };

        // The user's own defaults, below the project's file: absent is the usual case.
        if let Some(path) = crate::xdg::user_config_file(&environment).filter(|p| p.exists()) {
            apply_file(&mut values, &path, FileLayer::User)?;
        }

        let file = match &options.config_path {
            Some(path) => Some((path.clone(), FileLayer::Given)),
            None => Some(PathBuf::from(DEFAULT_PROJECT_FILE))
                .filter(|p| p.is_file())
                .map(|path| (path, FileLayer::Project)),
        };
        if let Some((path, layer)) = file {
            apply_file(&mut values, &path, layer)?;
        }
        for spec in SETTINGS {
            if let Some(name) = spec.env
                && let Some(value) = environment.get(name)
            {
                values.insert(spec.key, (value.clone(), Origin::Env(name)));
            }
        }

        for pair in &options.overrides {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| ConfigError::BadFlag(mask_text(pair)))?;
            let spec = spec::find(key.trim()).ok_or_else(|| unknown(key.trim(), Origin::Flag))?;
            values.insert(spec.key, (value.to_string(), Origin::Flag));
        }

        let settings = Settings { values };
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for spec in SETTINGS {
            let (value, origin) = &self.values[spec.key];
            if let Err(expected) = check(spec.kind, value) {
                return Err(ConfigError::BadValue {
                    key: spec.key,
                    value: shown(spec.kind, value),
                    origin: origin.clone(),
                    expected,
                });
            }
        }
        Ok(())
    }

    /// The raw text of a known key. Keys are compile-time constants from the spec table.
    pub fn text(&self, key: &str) -> &str {
        self.values
            .get(key)
            .map(|(value, _)| value.as_str())
            .unwrap_or_else(|| panic!("setting `{key}` is missing from config::spec::SETTINGS"))
    }

    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.values.get(key).map(|(_, origin)| origin)
    }

    /// `(key, shown value, origin)` for every setting, secrets redacted.
    pub fn describe(&self) -> Vec<(&'static str, String, Origin)> {
        SETTINGS
            .iter()
            .map(|spec| {
                let (value, origin) = &self.values[spec.key];
                (spec.key, shown(spec.kind, value), origin.clone())
            })
            .collect()
    }
}

/// A value as shown or recorded: any URL's password and secret query parameters
/// (ELASTIC_URL, JAEGER_URL, the OTLP endpoint too), a key/value connection string's
/// password, and a command's secret assignments (`PGPASSWORD=***`) masked.
fn shown(kind: Kind, value: &str) -> String {
    match kind {
        Kind::DatabaseUrl | Kind::HttpUrl => database_url::redact(value),
        Kind::Command => super::secrets::mask_command_line(value),
        _ => value.to_string(),
    }
}

fn unknown(key: &str, origin: Origin) -> ConfigError {
    let hint = spec::closest(key)
        .map(|near| format!(" (did you mean `{near}`?)"))
        .unwrap_or_default();
    ConfigError::UnknownKey {
        key: key.to_string(),
        origin,
        hint,
    }
}

/// The project's file read when no `--config` is given.
pub const DEFAULT_PROJECT_FILE: &str = "drill-cockpit.toml";

/// Which of the two files a TOML layer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileLayer {
    /// `$XDG_CONFIG_HOME/drill-cockpit/config.toml`.
    User,
    /// `--config PATH`.
    Given,
    /// `./drill-cockpit.toml`, found in the current folder.
    Project,
}

impl FileLayer {
    fn origin(self, path: &Path) -> Origin {
        match self {
            FileLayer::User => Origin::UserFile(path.to_path_buf()),
            FileLayer::Given | FileLayer::Project => Origin::File(path.to_path_buf()),
        }
    }
}

/// Every key of one file over `values`, each checked against the table.
fn apply_file(
    values: &mut BTreeMap<&'static str, (String, Origin)>,
    path: &Path,
    layer: FileLayer,
) -> Result<(), ConfigError> {
    let origin = layer.origin(path);
    for (key, value) in read_file(path, layer)? {
        let spec = spec::find(&key).ok_or_else(|| unknown(&key, origin.clone()))?;
        values.insert(spec.key, (value, origin.clone()));
    }
    Ok(())
}

/// Why a config file could not be read, once, with the fix for its layer.
fn read_error(path: &Path, layer: FileLayer, error: &std::io::Error) -> ConfigError {
    let shown = path.display();
    let message = match (layer, error.kind()) {
        (FileLayer::Given, std::io::ErrorKind::NotFound) => format!(
            "config file {shown} does not exist: fix the path given to --config, or drop --config (./{DEFAULT_PROJECT_FILE} is then read when present)"
        ),
        (FileLayer::Given, _) => format!(
            "cannot read config file {shown} ({}): pass --config the path of a TOML file you can read",
            io_reason(error)
        ),
        (FileLayer::User, _) => format!(
            "cannot read your user config {shown} ({}): fix its permissions, or remove it (it only sets your own defaults)",
            io_reason(error)
        ),
        (FileLayer::Project, _) => format!(
            "cannot read config file {shown} ({}): fix its permissions, remove it, or pass --config with another file",
            io_reason(error)
        ),
    };
    ConfigError::Read {
        path: path.to_path_buf(),
        message,
    }
}

/// The OS error in words, without Rust's `(os error N)` suffix.
fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "it is a folder, not a file".into(),
        std::io::ErrorKind::InvalidData => "it is not UTF-8 text".into(),
        _ => {
            let text = error.to_string();
            match text.find(" (os error") {
                Some(at) => text[..at].to_string(),
                None => text,
            }
        }
    }
}

/// The file's tables flattened to dotted keys with their values as text.
fn read_file(path: &Path, layer: FileLayer) -> Result<Vec<(String, String)>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| read_error(path, layer, &error))?;
    let table: toml::Table =
        text.parse()
            .map_err(|error: toml::de::Error| ConfigError::Syntax {
                path: path.to_path_buf(),
                // toml quotes the line; it may hold a password.
                message: mask_text(&error.to_string()),
            })?;
    let mut flat = Vec::new();
    flatten("", &toml::Value::Table(table), &mut flat);
    Ok(flat)
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut Vec<(String, String)>) {
    match value {
        toml::Value::Table(table) => {
            for (key, value) in table {
                let full = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&full, value, out);
            }
        }
        toml::Value::String(text) => out.push((prefix.to_string(), text.clone())),
        toml::Value::Array(items) => {
            let words: Vec<String> = items
                .iter()
                .map(|item| match item {
                    toml::Value::String(text) => quote_word(text),
                    other => other.to_string(),
                })
                .collect();
            out.push((prefix.to_string(), words.join(" ")));
        }
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

pub(crate) fn quote_word(word: &str) -> String {
    if word.is_empty() || word.contains(char::is_whitespace) || word.contains('"') {
        format!("\"{}\"", word.replace('"', "\\\""))
    } else {
        word.to_string()
    }
}

/// `Ok` when `value` fits `kind`, else the expected form.
fn check(kind: Kind, value: &str) -> Result<(), String> {
    let ok = match kind {
        Kind::Text | Kind::Command => true,
        Kind::HttpUrl => {
            (value.starts_with("http://") || value.starts_with("https://"))
                && value
                    .split_once("://")
                    .is_some_and(|(_, rest)| !rest.is_empty())
        }
        Kind::DatabaseUrl => database_url::normalize(value).is_ok(),
        Kind::Port => value.trim().parse::<u16>().is_ok_and(|port| port > 0),
        Kind::Count { max } => value
            .trim()
            .parse::<u64>()
            .is_ok_and(|n| (1..=max).contains(&n)),
        // `-0` parses to -0.0, which is in range: it means 0.
        Kind::Seconds { max } => value
            .trim()
            .parse::<f64>()
            .is_ok_and(|n| (0.0..=max as f64).contains(&n)),
        Kind::Flag => parse_flag(value).is_some(),
        Kind::Key => crate::keys::KeySpec::parse(value).is_some(),
        // Upstream's nine, or any drill this process loaded (a user's file).
        Kind::Scenario => {
            crate::drill::upstream::SCENARIOS.contains(&value.trim())
                || crate::drill::catalog::find(value.trim()).is_ok()
        }
        Kind::Choice(words) => words.contains(&value.trim()),
    };
    if ok {
        return Ok(());
    }
    Err(match kind {
        Kind::Text | Kind::Command => "text".into(),
        Kind::HttpUrl => "an http:// or https:// URL, e.g. http://localhost:9200".into(),
        Kind::DatabaseUrl => "a Postgres URL such as postgres://USER:PASSWORD@HOST:PORT/DB \
                              (a key/value string like `host=… password=…` must be written as a URL)"
            .into(),
        Kind::Port => "a port number from 1 to 65535".into(),
        Kind::Count { max } => format!("a whole number from 1 to {max}"),
        Kind::Seconds { max } => format!("a number of seconds from 0 to {max}, e.g. 0.25"),
        Kind::Flag => "1/0, true/false, yes/no or on/off".into(),
        Kind::Key => "a key such as `s`, `S`, `Tab`, `Enter`, `F5` or `Ctrl-x`".into(),
        Kind::Choice(words) => format!("one of {}", words.join(", ")),
        Kind::Scenario => format!(
            "a scenario id{}: one of {}",
            closest_scenario(value)
                .map(|near| format!(" (did you mean `{near}`?)"))
                .unwrap_or_default(),
            crate::drill::upstream::SCENARIOS.join(", ")
        ),
    })
}

/// The scenario id closest to a mistyped one, as `drill-cockpit run` suggests it.
fn closest_scenario(value: &str) -> Option<&'static str> {
    crate::drill::upstream::SCENARIOS
        .iter()
        .map(|id| (spec::edit_distance(value.trim(), id), *id))
        .filter(|(distance, _)| *distance <= 5)
        .min()
        .map(|(_, id)| id)
}

pub(crate) fn parse_flag(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// Splits a command line into words as a POSIX shell would: single quotes keep
/// everything literally, double quotes group words and honour `\"` and `\\`, and a
/// backslash outside quotes escapes the next character.
pub(crate) fn split_command(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                in_word = true;
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(
        env: &[(&str, &str)],
        file: Option<&str>,
        flags: &[&str],
    ) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let config_path = file.map(|text| {
            let path = dir.path().join("drill-cockpit.toml");
            std::fs::write(&path, text).unwrap();
            path
        });
        Settings::load(&LoadOptions {
            config_path,
            overrides: flags.iter().map(|s| s.to_string()).collect(),
            environment: Some(
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        })
    }

    #[test]
    fn layers_apply_in_order_default_file_env_flag() {
        let file = "[worker]\nmetrics_port = 9200\nhttp_port = 9300\nbatch_size = 7\n";
        let settings = load_with(
            &[
                ("OUTBOX_METRICS_PORT", "9400"),
                ("OUTBOX_HTTP_PORT", "9500"),
            ],
            Some(file),
            &["worker.http_port=9600"],
        )
        .unwrap();
        assert_eq!(settings.text("worker.batch_size"), "7");
        assert!(matches!(
            settings.origin("worker.batch_size"),
            Some(Origin::File(_))
        ));
        assert_eq!(settings.text("worker.metrics_port"), "9400");
        assert_eq!(
            settings.origin("worker.metrics_port"),
            Some(&Origin::Env("OUTBOX_METRICS_PORT"))
        );
        assert_eq!(settings.text("worker.http_port"), "9600");
        assert_eq!(settings.origin("worker.http_port"), Some(&Origin::Flag));
        assert_eq!(settings.text("elastic.index"), "wordloom-test-search-index");
        assert_eq!(settings.origin("elastic.index"), Some(&Origin::Default));
    }

    #[test]
    fn the_user_config_is_below_the_project_file_and_named_as_the_users() {
        let home = tempfile::tempdir().unwrap();
        let user = home.path().join("drill-cockpit/config.toml");
        std::fs::create_dir_all(user.parent().unwrap()).unwrap();
        std::fs::write(&user, "[worker]\nbatch_size = 3\nbulk_size = 4\n").unwrap();
        let project = home.path().join("project.toml");
        std::fs::write(&project, "[worker]\nbulk_size = 40\n").unwrap();
        let environment: BTreeMap<String, String> = [(
            "XDG_CONFIG_HOME".to_string(),
            home.path().display().to_string(),
        )]
        .into();
        let settings = Settings::load(&LoadOptions {
            config_path: Some(project.clone()),
            overrides: vec![],
            environment: Some(environment.clone()),
        })
        .unwrap();
        assert_eq!(settings.text("worker.batch_size"), "3");
        assert_eq!(
            settings.origin("worker.batch_size"),
            Some(&Origin::UserFile(user.clone()))
        );
        assert_eq!(settings.text("worker.bulk_size"), "40");
        assert_eq!(
            settings.origin("worker.bulk_size"),
            Some(&Origin::File(project))
        );

        std::fs::write(&user, "[worker]\nbatch_siz = 3\n").unwrap();
        let error = Settings::load(&LoadOptions {
            environment: Some(environment),
            ..LoadOptions::default()
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            format!(
                "unknown config key `worker.batch_siz` in user config {} (did you mean `worker.batch_size`?). Run `drill-cockpit config` to list the keys",
                user.display()
            )
        );
    }

    #[test]
    fn an_unreadable_config_file_says_why_once() {
        let dir = tempfile::tempdir().unwrap();
        let error = Settings::load(&LoadOptions {
            config_path: Some(dir.path().to_path_buf()),
            overrides: vec![],
            environment: Some(BTreeMap::new()),
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            format!(
                "cannot read config file {} (it is a folder, not a file): pass --config the path of a TOML file you can read",
                dir.path().display()
            )
        );
    }

    #[test]
    fn unknown_file_key_names_key_and_suggestion() {
        let error = load_with(&[], Some("[elastic]\nindx = \"x\"\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("`elastic.indx`"), "{error}");
        assert!(error.contains("did you mean `elastic.index`"), "{error}");
    }

    #[test]
    fn bad_value_names_key_value_origin_and_form() {
        let error = load_with(&[("OUTBOX_METRICS_PORT", "91o9")], None, &[])
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "config key `worker.metrics_port` = \"91o9\" (from env OUTBOX_METRICS_PORT): expected a port number from 1 to 65535"
        );
    }

    #[test]
    fn bad_database_url_error_hides_password() {
        let error = load_with(&[("DATABASE_URL", "mysql://u:hunter2@h/db")], None, &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("database.url"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn describe_masks_query_passwords_and_command_secrets() {
        let settings = load_with(
            &[
                ("DATABASE_URL", "postgres://u:pw@h/db?password=QSecret9"),
                ("DRILL_WORKER_COMMAND", "env PGPASSWORD=CmdPw11 'my worker'"),
            ],
            None,
            &[],
        )
        .unwrap();
        let shown: BTreeMap<_, _> = settings
            .describe()
            .into_iter()
            .map(|(key, value, _)| (key, value))
            .collect();
        assert_eq!(shown["database.url"], "postgres://u:***@h/db?password=***");
        assert_eq!(shown["worker.command"], "env PGPASSWORD=*** \"my worker\"");
    }

    #[test]
    fn a_key_value_database_url_is_refused_with_its_password_masked() {
        let error = load_with(
            &[("DATABASE_URL", "host=h password='Kv Secret9' dbname=d")],
            None,
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("host=h password='***' dbname=d"), "{error}");
        assert!(error.contains("must be written as a URL"), "{error}");
        assert!(!error.contains("Kv Secret9"), "{error}");
    }

    #[test]
    fn flag_and_syntax_errors_mask_what_they_quote() {
        let error = load_with(&[], None, &["postgres://u:FlagPw1@h/db"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("postgres://u:***@h/db"), "{error}");
        assert!(!error.contains("FlagPw1"), "{error}");
        let error = load_with(&[], Some("[database]\nurl = postgres://u:TomlPw1@h\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("is not valid TOML"), "{error}");
        assert!(!error.contains("TomlPw1"), "{error}");
    }

    #[test]
    fn toml_syntax_error_names_file() {
        let error = load_with(&[], Some("[worker\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("is not valid TOML"), "{error}");
    }

    #[test]
    fn describe_redacts_database_password() {
        let settings = load_with(&[], None, &[]).unwrap();
        let (_, shown, _) = settings
            .describe()
            .into_iter()
            .find(|(key, _, _)| *key == "database.url")
            .unwrap();
        assert_eq!(
            shown,
            "postgresql+psycopg://wordloom:***@localhost:5435/wordloom_test"
        );
    }

    #[test]
    fn commands_split_like_a_shell() {
        assert_eq!(
            split_command(r#"python "backend/scripts/search outbox.py" --x 'a b'"#),
            vec!["python", "backend/scripts/search outbox.py", "--x", "a b"]
        );
        assert!(split_command("   ").is_empty());
        assert_eq!(
            split_command(r#"sh -c 'echo "{\"a\":1}"'"#),
            vec!["sh", "-c", r#"echo "{\"a\":1}""#]
        );
        assert_eq!(split_command(r#"a\ b "c\"d""#), vec!["a b", "c\"d"]);
    }

    #[test]
    fn toml_array_command_keeps_words() {
        let settings = load_with(
            &[],
            Some("[worker]\ncommand = [\"python\", \"my worker.py\"]\n"),
            &[],
        )
        .unwrap();
        assert_eq!(
            split_command(settings.text("worker.command")),
            vec!["python", "my worker.py"]
        );
    }
}
