//! Compiled log patterns, each compiled once per process: `verify` of a folder grades
//! the same few patterns against every run, and compiling one costs more than matching
//! it against a run's log.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use regex::Regex;

static COMPILED: LazyLock<Mutex<HashMap<String, Option<Regex>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// `pattern` compiled (a cheap clone of the one compiled first), `None` when it does not
/// compile.
pub fn compiled(pattern: &str) -> Option<Regex> {
    let Ok(mut cache) = COMPILED.lock() else {
        return Regex::new(pattern).ok();
    };
    cache
        .entry(pattern.to_string())
        .or_insert_with(|| Regex::new(pattern).ok())
        .clone()
}

#[cfg(test)]
mod tests {
    use super::compiled;

    #[test]
    fn a_pattern_compiles_once_and_a_broken_one_is_none() {
        let first = compiled(r"Reclaimed (\d+) stuck").unwrap();
        let again = compiled(r"Reclaimed (\d+) stuck").unwrap();
        assert_eq!(first.as_str(), again.as_str());
        assert!(again.is_match("Reclaimed 3 stuck outbox events"));
        assert!(compiled("(unclosed").is_none());
    }
}
