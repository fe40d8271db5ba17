//! Where a user's own files go, by the XDG Base Directory rules: the user config under
//! `$XDG_CONFIG_HOME/drill-cockpit/`, the cockpit's diagnostics log under
//! `$XDG_STATE_HOME/drill-cockpit/`, each falling back to its folder under `$HOME`.
//!
//! The environment is passed in (not read here) so the config loader can resolve the
//! user config from the same environment it reads its variables from, and tests can
//! give their own.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The folder name under each base directory.
pub const APP_DIR: &str = "drill-cockpit";
/// The user config's file name in `$XDG_CONFIG_HOME/drill-cockpit/`.
pub const USER_CONFIG_FILE: &str = "config.toml";
/// The diagnostics log's file name in `$XDG_STATE_HOME/drill-cockpit/`.
pub const LOG_FILE: &str = "drill-cockpit.log";

/// `$XDG_CONFIG_HOME/drill-cockpit/config.toml`, else `~/.config/drill-cockpit/config.toml`;
/// `None` when neither variable gives an absolute path.
pub fn user_config_file(environment: &BTreeMap<String, String>) -> Option<PathBuf> {
    base_dir(environment, "XDG_CONFIG_HOME", ".config")
        .map(|base| base.join(APP_DIR).join(USER_CONFIG_FILE))
}

/// `$XDG_STATE_HOME/drill-cockpit/drill-cockpit.log`, else
/// `~/.local/state/drill-cockpit/drill-cockpit.log`.
pub fn log_file(environment: &BTreeMap<String, String>) -> Option<PathBuf> {
    base_dir(environment, "XDG_STATE_HOME", ".local/state")
        .map(|base| base.join(APP_DIR).join(LOG_FILE))
}

/// The base directory a variable names, else its default under `$HOME`. The spec
/// says a relative value is invalid and must be ignored: it would depend on the
/// folder the program was started from.
fn base_dir(
    environment: &BTreeMap<String, String>,
    variable: &str,
    under_home: &str,
) -> Option<PathBuf> {
    let absolute = |name: &str| {
        environment
            .get(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    absolute(variable).or_else(|| absolute("HOME").map(|home| home.join(under_home)))
}

/// This process's environment, as the functions above take it.
pub fn process_environment() -> BTreeMap<String, String> {
    std::env::vars().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_xdg_variable_wins_over_home() {
        let both = env(&[("XDG_CONFIG_HOME", "/x/cfg"), ("HOME", "/home/u")]);
        assert_eq!(
            user_config_file(&both),
            Some(PathBuf::from("/x/cfg/drill-cockpit/config.toml"))
        );
        let both = env(&[("XDG_STATE_HOME", "/x/state"), ("HOME", "/home/u")]);
        assert_eq!(
            log_file(&both),
            Some(PathBuf::from("/x/state/drill-cockpit/drill-cockpit.log"))
        );
    }

    #[test]
    fn home_is_the_fallback_and_a_relative_xdg_value_is_ignored() {
        let relative = env(&[
            ("XDG_CONFIG_HOME", "cfg"),
            ("XDG_STATE_HOME", "state"),
            ("HOME", "/home/u"),
        ]);
        assert_eq!(
            user_config_file(&relative),
            Some(PathBuf::from("/home/u/.config/drill-cockpit/config.toml"))
        );
        assert_eq!(
            log_file(&relative),
            Some(PathBuf::from(
                "/home/u/.local/state/drill-cockpit/drill-cockpit.log"
            ))
        );
    }

    #[test]
    fn no_home_and_no_xdg_means_no_user_files() {
        assert_eq!(user_config_file(&env(&[])), None);
        assert_eq!(log_file(&env(&[("HOME", "")])), None);
    }
}
