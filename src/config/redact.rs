//! Scrubbing secrets out of text before it is stored or shown: the database password
//! and the value of every environment variable whose name says it is a secret.

use std::collections::BTreeMap;

/// Replaces each known secret with `***`. Built once per run; cheap to apply per line.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

const SECRET_NAME_PARTS: &[&str] = &["PASSWORD", "TOKEN", "SECRET"];

/// Values this short are too likely to occur by chance to be scrubbed blindly
/// (the test password `wordloom` is long enough).
const MIN_SECRET_LEN: usize = 3;

impl Redactor {
    /// Secrets from the database URL and from the given environment.
    pub fn new(database_url: &str, environment: &BTreeMap<String, String>) -> Redactor {
        let mut secrets = Vec::new();
        if let Some(password) = super::database_password(database_url) {
            secrets.push(password.clone());
            // The URL form may be percent-encoded; the worker may print either.
            let decoded = percent_decode(&password);
            if decoded != password {
                secrets.push(decoded);
            }
        }
        for (name, value) in environment {
            let upper = name.to_ascii_uppercase();
            if SECRET_NAME_PARTS.iter().any(|part| upper.contains(part)) {
                secrets.push(value.clone());
            }
            if upper.ends_with("DATABASE_URL")
                && let Some(password) = super::database_password(value)
            {
                secrets.push(password);
            }
        }
        secrets.retain(|secret| secret.len() >= MIN_SECRET_LEN);
        // Longest first, so a secret that contains another is replaced whole.
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// From the database URL and this process's environment.
    pub fn from_process(database_url: &str) -> Redactor {
        Redactor::new(database_url, &std::env::vars().collect())
    }

    /// Replaces the password of every `scheme://user:password@` URL, and every secret
    /// that stands as a whole token. A secret inside a longer identifier is left alone:
    /// the contract's default password `wordloom` is also the prefix of the service name
    /// and of every span attribute, which must survive in the evidence.
    pub fn redact(&self, text: &str) -> String {
        let mut out = redact_url_passwords(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = replace_whole_tokens(&out, secret);
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

/// Characters that continue an identifier: a secret next to one is part of a longer word.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-' || c == '.'
}

fn replace_whole_tokens(text: &str, secret: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(position) = rest.find(secret) {
        let before = rest[..position].chars().next_back();
        let after = rest[position + secret.len()..].chars().next();
        let whole = !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char);
        out.push_str(&rest[..position]);
        out.push_str(if whole { "***" } else { secret });
        rest = &rest[position + secret.len()..];
    }
    out.push_str(rest);
    out
}

/// `scheme://user:password@host` → `scheme://user:***@host`, wherever it appears.
fn redact_url_passwords(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(position) = rest.find("://") {
        let (head, tail) = rest.split_at(position + 3);
        out.push_str(head);
        // The authority ends at the first of these; userinfo is before its last '@'.
        let end = tail
            .find(|c: char| {
                c == '/'
                    || c == '?'
                    || c == '#'
                    || c.is_whitespace()
                    || c == '"'
                    || c == '\''
                    || c == ','
            })
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority
            .rsplit_once('@')
            .and_then(|(userinfo, host)| userinfo.split_once(':').map(|(user, _)| (user, host)))
        {
            Some((user, host)) => {
                out.push_str(user);
                out.push_str(":***@");
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_password_and_secret_env_values_are_scrubbed() {
        let env: BTreeMap<String, String> = [
            ("ES_API_TOKEN".to_string(), "tok-123456".to_string()),
            ("MY_SECRET_KEY".to_string(), "abcdef".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ]
        .into();
        let redactor = Redactor::new(
            "postgresql+psycopg://wordloom:p%40ss@localhost:5435/db",
            &env,
        );
        let line = "[OK] Database: postgresql+psycopg://wordloom:p%40ss@localhost:5435/db token=tok-123456 key=abcdef pw=p@ss home=/root";
        assert_eq!(
            redactor.redact(line),
            "[OK] Database: postgresql+psycopg://wordloom:***@localhost:5435/db token=*** key=*** pw=*** home=/root"
        );
    }

    #[test]
    fn the_contract_password_is_scrubbed_without_mangling_contract_names() {
        let redactor = Redactor::new(
            "postgresql+psycopg://wordloom:wordloom@localhost:5435/wordloom_test",
            &BTreeMap::new(),
        );
        let line = r#"[OK] Database: postgresql+psycopg://wordloom:wordloom@localhost:5435/wordloom_test {"service":"wordloom-search-outbox-worker","wordloom.outbox_event_id":"x","password":"wordloom"}"#;
        assert_eq!(
            redactor.redact(line),
            // The user name equals the password here, so it goes too.
            r#"[OK] Database: postgresql+psycopg://***:***@localhost:5435/wordloom_test {"service":"wordloom-search-outbox-worker","wordloom.outbox_event_id":"x","password":"***"}"#
        );
        assert_eq!(
            redactor.redact("http://es:9200/x, postgres://a:b@h"),
            "http://es:9200/x, postgres://a:***@h"
        );
    }

    #[test]
    fn nothing_to_scrub_leaves_text_alone() {
        let redactor = Redactor::new("postgres://u@h/db", &BTreeMap::new());
        assert!(redactor.is_empty());
        assert_eq!(redactor.redact("hello"), "hello");
    }
}
