//! Scrubbing secrets out of text before it is stored or shown: the database password
//! (in the URL's userinfo, its query string or a key/value connection string), the value
//! of every environment variable whose name says it is a secret, and the secrets the
//! worker's command line sets (`env PGPASSWORD=… worker`).

use std::collections::BTreeMap;

use super::secrets::{self, is_secret_name, percent_decode};

/// Replaces each known secret with `***`. Built once per run; cheap to apply per line.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

/// Values this short are too likely to occur by chance to be scrubbed blindly
/// (the test password `wordloom` is long enough).
const MIN_SECRET_LEN: usize = 3;

impl Redactor {
    /// Secrets from the database URL (or key/value connection string) and from the
    /// given environment. Percent-encoded ones are scrubbed decoded too (`from_secrets`).
    pub fn new(database_url: &str, environment: &BTreeMap<String, String>) -> Redactor {
        let mut secrets = secrets::connection_secrets(database_url);
        for (name, value) in environment {
            if is_secret_name(name) {
                secrets.push(value.clone());
            }
            // Every URL's secrets (ELASTIC_URL, JAEGER_URL, the OTLP endpoint, …).
            secrets.extend(url_secrets(value));
        }
        Redactor::from_secrets(secrets)
    }

    /// Adds the secrets of each URL (settings that came from a file or a flag).
    pub fn with_urls(self, urls: &[&str]) -> Redactor {
        let mut secrets = self.secrets;
        secrets.extend(urls.iter().flat_map(|url| url_secrets(url)));
        Redactor::from_secrets(secrets)
    }

    /// Adds the secrets a command line sets or carries (`PGPASSWORD=…`, a URL's).
    pub fn with_command(self, words: &[String]) -> Redactor {
        let mut secrets = self.secrets;
        secrets.extend(secrets::command_secrets(words));
        Redactor::from_secrets(secrets)
    }

    /// Each secret in every form a worker may print it: as is, percent-decoded, and
    /// escaped inside a JSON string (serde's and Python's `ensure_ascii` forms).
    fn from_secrets(raw: Vec<String>) -> Redactor {
        let mut secrets = Vec::new();
        for secret in raw {
            let decoded = percent_decode(&secret);
            for form in [secret, decoded] {
                secrets.extend(json_forms(&form));
                secrets.push(form);
            }
        }
        secrets.retain(|secret| secret.chars().count() >= MIN_SECRET_LEN);
        // Longest first, so a secret that contains another is replaced whole.
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
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

    /// Like [`Redactor::redact`] for text that was cut: a cut that split a secret leaves
    /// its first part at the end, which goes too.
    pub fn redact_cut(&self, text: &str) -> String {
        let mut out = self.redact(text);
        for secret in &self.secrets {
            let chars: Vec<(usize, char)> = secret.char_indices().collect();
            // The longest proper prefix of the secret (3+ characters) that ends the text.
            let found = (MIN_SECRET_LEN..chars.len())
                .rev()
                .map(|n| &secret[..chars[n].0])
                .find(|prefix| out.ends_with(prefix));
            if let Some(prefix) = found {
                out.truncate(out.len() - prefix.len());
                out.push_str("***");
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

/// Characters of an identifier.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether the text on one side of a match continues an identifier the match is part
/// of: a word character right there, or `.`/`-` joining on to one (`wordloom.outbox`,
/// `wordloom-search`). A `.` or `-` that ends a sentence or a token does not.
fn continues_identifier(mut side: impl Iterator<Item = char>) -> bool {
    match side.next() {
        Some(c) if is_word_char(c) => true,
        Some('.' | '-') => side.next().is_some_and(is_word_char),
        _ => false,
    }
}

fn replace_whole_tokens(text: &str, secret: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(position) = rest.find(secret) {
        let before = continues_identifier(rest[..position].chars().rev());
        let after = continues_identifier(rest[position + secret.len()..].chars());
        // A secret that is itself punctuation-edged matches on its own terms.
        let edged = |c: Option<char>| c.is_some_and(|c| !is_word_char(c));
        let whole = (!before || edged(secret.chars().next()))
            && (!after || edged(secret.chars().next_back()));
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

/// The secrets of a `scheme://user:password@host…?password=…` URL.
fn url_secrets(value: &str) -> Vec<String> {
    secrets::url_spans(value)
        .into_iter()
        .map(|span| value[span].to_string())
        .filter(|secret| !secret.is_empty())
        .collect()
}

/// A secret as it appears inside a JSON string: serde's escaping and Python's
/// `json.dumps` default (`ensure_ascii`: every non-ASCII character as `\uXXXX`).
fn json_forms(secret: &str) -> Vec<String> {
    let serde_form = serde_json::to_string(secret)
        .map(|quoted| quoted[1..quoted.len() - 1].to_string())
        .unwrap_or_default();
    let mut ascii = String::new();
    for c in serde_form.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    [serde_form, ascii]
        .into_iter()
        .filter(|form| form != secret)
        .collect()
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
