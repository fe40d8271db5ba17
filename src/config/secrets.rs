//! Where secrets stand in the values a profile holds, so they are masked where shown
//! and scrubbed where written: a URL's userinfo password and secret query parameters,
//! a key/value connection string's password, and `NAME=value` assignments of
//! secret-named variables in a command line.

use std::ops::Range;

use super::load::split_command;

/// What a secret is shown as.
pub const MASK: &str = "***";

/// How deep a command inside a command (`sh -c '…'`) is looked into.
const NESTED_COMMANDS: usize = 3;

/// A variable name that says its value is secret: it contains `PASSWORD`, `TOKEN` or
/// `SECRET`, or ends in `_KEY` (case-insensitive; `-` counts as `_`).
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase().replace('-', "_");
    ["PASSWORD", "TOKEN", "SECRET"]
        .iter()
        .any(|part| upper.contains(part))
        || upper.ends_with("_KEY")
}

/// A connection parameter holding a secret: libpq's `password`/`sslpassword`, the
/// short `pass`/`pwd`, or any secret-named key (percent-encoded or not).
fn is_secret_param(key: &str) -> bool {
    let key = percent_decode(key.trim()).to_ascii_lowercase();
    matches!(key.as_str(), "pass" | "pwd") || is_secret_name(&key)
}

/// Secret spans of a `scheme://…` URL: the userinfo password and every secret query
/// parameter's value. Empty when the text has no `://`.
pub fn url_spans(url: &str) -> Vec<Range<usize>> {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return Vec::new();
    };
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let mut spans = Vec::new();
    if let Some(at) = url[start..authority_end].rfind('@')
        && let Some(colon) = url[start..start + at].find(':')
    {
        spans.push(start + colon + 1..start + at);
    }
    if let Some(question) = url[authority_end..].find('?') {
        let query_start = authority_end + question + 1;
        let query_end = url[query_start..]
            .find('#')
            .map_or(url.len(), |i| query_start + i);
        spans.extend(query_spans(url, query_start..query_end));
    }
    spans
}

/// The values of the secret `key=value` pairs of a query string.
fn query_spans(url: &str, query: Range<usize>) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut at = query.start;
    for pair in url[query].split('&') {
        if let Some((key, _)) = pair.split_once('=')
            && is_secret_param(key)
        {
            spans.push(at + key.len() + 1..at + pair.len());
        }
        at += pair.len() + 1;
    }
    spans
}

/// Secret spans of a libpq key/value connection string (`host=h password='a b'`):
/// each secret key's value, inside its quotes when quoted.
pub fn dsn_spans(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let skip_space = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut spans = Vec::new();
    let mut i = skip_space(0);
    while i < bytes.len() {
        let key_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'=' {
            i += 1;
        }
        let key = &text[key_start..i];
        i = skip_space(i);
        if bytes.get(i) != Some(&b'=') {
            continue;
        }
        let (value, next) = dsn_value(bytes, skip_space(i + 1));
        if is_secret_param(key) {
            spans.push(value);
        }
        i = skip_space(next);
    }
    spans
}

/// The value starting at `start` (inside its quotes when quoted; a backslash escapes
/// the next character) and where the next pair may begin.
fn dsn_value(bytes: &[u8], start: usize) -> (Range<usize>, usize) {
    let quoted = bytes.get(start) == Some(&b'\'');
    let first = if quoted { start + 1 } else { start };
    let mut i = first;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'\'' if quoted => break,
            c if !quoted && c.is_ascii_whitespace() => break,
            _ => {}
        }
        i += 1;
    }
    let end = i.min(bytes.len());
    (first..end, (end + usize::from(quoted)).min(bytes.len()))
}

/// A connection string's secret spans, whether it is a URL or key/value pairs.
pub fn connection_spans(text: &str) -> Vec<Range<usize>> {
    if text.contains("://") {
        url_spans(text)
    } else {
        dsn_spans(text)
    }
}

/// Free text quoting a value (an error message) with the secrets its form gives away
/// masked: every URL's, and `password=…` pairs written the key/value way.
pub fn mask_text(text: &str) -> String {
    let mut spans = dsn_spans(text);
    let mut at = 0;
    for token in text.split(|c: char| c.is_ascii_whitespace()) {
        spans.extend(
            url_spans(token)
                .into_iter()
                .map(|span| at + span.start..at + span.end),
        );
        at += token.len() + 1;
    }
    mask_spans(text, spans)
}

/// The text with each span replaced by [`MASK`].
pub fn mask_spans(text: &str, mut spans: Vec<Range<usize>>) -> String {
    spans.sort_by_key(|span| span.start);
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    for span in spans {
        if span.end <= done {
            continue;
        }
        out.push_str(&text[done..span.start.max(done)]);
        out.push_str(MASK);
        done = span.end;
    }
    out.push_str(&text[done..]);
    out
}

/// A connection string (URL or key/value pairs) with its secrets masked.
pub fn mask_connection(text: &str) -> String {
    mask_spans(text, connection_spans(text))
}

/// The secrets of a connection string, as written and as the server reads them
/// (a quoted key/value password without its backslash escapes).
pub fn connection_secrets(text: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    for span in connection_spans(text) {
        let raw = &text[span];
        if raw.contains('\\') {
            secrets.push(unescape(raw));
        }
        secrets.push(raw.to_string());
    }
    secrets.retain(|secret| !secret.is_empty());
    secrets
}

/// `NAME=value` (or `--name=value`) with a secret name: the value's span.
fn assignment_span(word: &str) -> Option<Range<usize>> {
    let (name, _) = word.split_once('=')?;
    let bare = name.trim_start_matches('-');
    let valid = !bare.is_empty()
        && !bare.starts_with(|c: char| c.is_ascii_digit())
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (valid && is_secret_name(bare)).then(|| name.len() + 1..word.len())
}

/// The secrets of a command line's words: secret assignments' values, URL secrets,
/// and those of a command inside a word (`sh -c 'PGPASSWORD=… exec worker'`).
pub fn command_secrets(words: &[String]) -> Vec<String> {
    let mut secrets = Vec::new();
    collect_command_secrets(words, NESTED_COMMANDS, &mut secrets);
    secrets.retain(|secret| !secret.is_empty());
    secrets
}

fn collect_command_secrets(words: &[String], depth: usize, out: &mut Vec<String>) {
    for word in words {
        if let Some(span) = assignment_span(word) {
            out.push(word[span].to_string());
        }
        out.extend(
            url_spans(word)
                .into_iter()
                .map(|span| word[span].to_string()),
        );
        if depth > 0 && word.contains(char::is_whitespace) {
            collect_command_secrets(&split_command(word), depth - 1, out);
        }
    }
}

/// The words with every secret masked: `PGPASSWORD=***`, `postgres://u:***@h`, and
/// inside a command within a word.
pub fn mask_command(words: &[String]) -> Vec<String> {
    mask_words(words, NESTED_COMMANDS)
}

fn mask_words(words: &[String], depth: usize) -> Vec<String> {
    words.iter().map(|word| mask_word(word, depth)).collect()
}

fn mask_word(word: &str, depth: usize) -> String {
    if let Some(span) = assignment_span(word) {
        return mask_spans(word, vec![span]);
    }
    let masked = mask_spans(word, url_spans(word));
    if depth == 0 || !word.contains(char::is_whitespace) {
        return masked;
    }
    let inner = split_command(word);
    let inner_masked = mask_words(&inner, depth - 1);
    if inner_masked == inner {
        masked
    } else {
        join_words(&inner_masked)
    }
}

/// A command line as shown: the words joined, each with spaces or quotes quoted.
pub fn join_words(words: &[String]) -> String {
    words
        .iter()
        .map(|word| super::load::quote_word(word))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A command line (as written in a setting) as shown: unchanged when it holds no
/// secret, else its words masked and joined again.
pub fn mask_command_line(line: &str) -> String {
    let words = split_command(line);
    let masked = mask_command(&words);
    if masked == words {
        line.to_string()
    } else {
        join_words(&masked)
    }
}

/// A quoted key/value value as libpq reads it: each backslash escape resolved.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn percent_decode(text: &str) -> String {
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

    fn words(line: &str) -> Vec<String> {
        split_command(line)
    }

    #[test]
    fn query_passwords_are_masked_whatever_their_key() {
        assert_eq!(
            mask_connection("postgres://u:pw@h/db?sslmode=disable&password=QSecret9"),
            "postgres://u:***@h/db?sslmode=disable&password=***"
        );
        assert_eq!(
            mask_connection("postgres://h/db?PWD=a&pass=b&SslPassword=c&api_token=d&x=1#f"),
            "postgres://h/db?PWD=***&pass=***&SslPassword=***&api_token=***&x=1#f"
        );
        assert_eq!(
            mask_connection("postgres://h/db?pass%77ord=x%20y"),
            "postgres://h/db?pass%77ord=***"
        );
        assert_eq!(
            connection_secrets("postgres://h/db?password=QSecret9"),
            vec!["QSecret9"]
        );
    }

    #[test]
    fn key_value_passwords_are_masked_quoted_or_not() {
        assert_eq!(
            mask_connection("host=h password=hunter22 dbname=d"),
            "host=h password=*** dbname=d"
        );
        assert_eq!(
            mask_connection("host=h password = 'a b\\'c' user=u"),
            "host=h password = '***' user=u"
        );
        assert_eq!(
            connection_secrets("password='a b\\'c'"),
            vec!["a b'c", "a b\\'c"]
        );
        assert_eq!(mask_connection("host=h user=u"), "host=h user=u");
    }

    #[test]
    fn secret_assignments_in_a_command_are_masked_and_collected() {
        let command =
            words("env PGPASSWORD=CmdPw11 API_KEY='a b' HOME=/root --db-token=t0k worker");
        assert_eq!(
            join_words(&mask_command(&command)),
            "env PGPASSWORD=*** API_KEY=*** HOME=/root --db-token=*** worker"
        );
        // `a` too: a spaced value may be a command (`sh -c 'PGPASSWORD=x exec w'`), so
        // its words count as well; the redactor leaves out ones this short.
        assert_eq!(
            command_secrets(&command),
            vec!["CmdPw11", "a b", "a", "t0k"]
        );
        let nested = words("sh -c 'PGPASSWORD=nested1 exec worker'");
        assert_eq!(join_words(&mask_command(&nested)), "sh -c PGPASSWORD=***");
        assert!(command_secrets(&nested).contains(&"nested1".to_string()));
        let inner = words("sh -c 'exec env PGPASSWORD=in2 worker --url postgres://u:p4@h'");
        assert_eq!(
            join_words(&mask_command(&inner)),
            "sh -c \"exec env PGPASSWORD=*** worker --url postgres://u:***@h\""
        );
    }

    #[test]
    fn free_text_has_its_urls_and_password_pairs_masked() {
        assert_eq!(
            mask_text("got postgres://u:pw1@h/db?token=t2 and\nhost=h password = p3 x"),
            "got postgres://u:***@h/db?token=*** and\nhost=h password = *** x"
        );
    }

    #[test]
    fn a_command_without_secrets_is_shown_as_written() {
        let line = r#"sh -c 'echo "{\"a\":1}"' KEYBOARD=x"#;
        assert_eq!(mask_command_line(line), line);
    }
}
