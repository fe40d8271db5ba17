//! Property tests of the redactor: generated secrets (punctuation, unicode) in every
//! form a worker prints them — as a word ending a sentence, inside a JSON string
//! (serde's and Python's `ensure_ascii` escaping), percent-encoded in any URL, and
//! split by a line cut — never reach a file or the screen.

use std::collections::BTreeMap;

use drill_cockpit::config::redact::Redactor;
use proptest::prelude::*;

/// Secrets as people choose them; `:/@*` left out only because they end a URL's
/// userinfo or spell the mask itself.
fn secret() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9!#$%^&()_+=.,;'\"\\\\ é中🔑-]{3,24}"
        .prop_filter("not only spaces", |s| !s.trim().is_empty())
}

fn redactor(secret: &str) -> Redactor {
    let env: BTreeMap<String, String> = [("API_TOKEN".to_string(), secret.to_string())].into();
    Redactor::new("postgres://u@h/db", &env)
}

/// Python's `json.dumps` (ensure_ascii=True) of a string, without the quotes.
fn python_json(text: &str) -> String {
    let serde = serde_json::to_string(text).unwrap();
    let mut out = String::new();
    for c in serde[1..serde.len() - 1].chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_secret_ending_a_sentence_is_redacted(secret in secret()) {
        let out = redactor(&secret).redact(&format!("= {secret}."));
        prop_assert!(!out.contains(&secret), "{out:?}");
    }

    #[test]
    fn a_secret_inside_a_json_string_is_redacted_in_both_escapings(secret in secret()) {
        let redactor = redactor(&secret);
        let serde_line = serde_json::json!({"k": format!("= {secret}")}).to_string();
        let escaped = serde_json::to_string(&secret).unwrap();
        let escaped = &escaped[1..escaped.len() - 1];
        let out = redactor.redact(&serde_line);
        prop_assert!(!out.contains(escaped), "{out:?}");
        let python_line = format!("{{\"k\": \"= {}\"}}", python_json(&secret));
        let out = redactor.redact(&python_line);
        prop_assert!(!out.contains(&python_json(&secret)), "{out:?}");
    }

    #[test]
    fn a_url_password_of_any_setting_is_redacted(secret in secret()) {
        let url = format!("http://elastic:{}@es:9200", percent_encode(&secret));
        let redactor = Redactor::new("postgres://u@h/db", &BTreeMap::new()).with_urls(&[&url]);
        let out = redactor.redact(&format!("ELASTIC_URL={url} and later the bare = {secret}."));
        prop_assert!(!out.contains(&secret), "{out:?}");
        prop_assert!(!out.contains(&percent_encode(&secret)), "{out:?}");
    }

    #[test]
    fn a_secret_split_by_a_cut_leaves_no_prefix_behind(secret in secret(), cut in 3usize..24) {
        let chars: Vec<char> = secret.chars().collect();
        prop_assume!(cut < chars.len());
        let head: String = chars[..cut].iter().collect();
        let out = redactor(&secret).redact_cut(&format!("= {head}"));
        prop_assert!(!out.ends_with(&head), "{out:?}");
    }
}
