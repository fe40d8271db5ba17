//! JUnit XML, the report format every CI system reads: one `<testsuite>` of
//! `<testcase>`s, each with its properties (the run directory) and, when it did not
//! pass, a `<failure>` (the drill ran and a check failed) or an `<error>` (it could not
//! run, or was interrupted). Written once, never over an existing file.

use std::path::Path;

use crate::sanitize::path as shown;

/// How a testcase ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    Passed,
    /// A check failed: `message` in one line, `detail` one line per failed check.
    Failed {
        message: String,
        detail: String,
    },
    /// It could not be graded or did not finish.
    Error {
        message: String,
        detail: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub name: String,
    pub classname: String,
    pub seconds: f64,
    pub properties: Vec<(String, String)>,
    pub ending: Ending,
}

/// The document: `<testsuites>` around one `<testsuite>` named `suite`.
pub fn render(suite: &str, cases: &[Case], seconds: f64) -> String {
    let count = |f: fn(&Ending) -> bool| cases.iter().filter(|c| f(&c.ending)).count();
    let failures = count(|e| matches!(e, Ending::Failed { .. }));
    let errors = count(|e| matches!(e, Ending::Error { .. }));
    let head = format!(
        "tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{seconds:.3}\"",
        cases.len()
    );
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!("<testsuites name=\"{}\" {head}>\n", escape(suite)));
    out.push_str(&format!(
        "  <testsuite name=\"{}\" {head} timestamp=\"{}\">\n",
        escape(suite),
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S")
    ));
    for case in cases {
        out.push_str(&case_xml(case));
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn case_xml(case: &Case) -> String {
    let mut out = format!(
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\">\n",
        escape(&case.name),
        escape(&case.classname),
        case.seconds
    );
    if !case.properties.is_empty() {
        out.push_str("      <properties>\n");
        for (name, value) in &case.properties {
            out.push_str(&format!(
                "        <property name=\"{}\" value=\"{}\"/>\n",
                escape(name),
                escape(value)
            ));
        }
        out.push_str("      </properties>\n");
    }
    let (tag, message, detail) = match &case.ending {
        Ending::Passed => ("", "", ""),
        Ending::Failed { message, detail } => ("failure", message.as_str(), detail.as_str()),
        Ending::Error { message, detail } => ("error", message.as_str(), detail.as_str()),
    };
    if !tag.is_empty() {
        out.push_str(&format!(
            "      <{tag} message=\"{}\">{}</{tag}>\n",
            escape(message),
            escape(detail)
        ));
    }
    out.push_str("    </testcase>\n");
    out
}

/// Text for an XML attribute or element: `& < > " '` escaped, and every character XML
/// 1.0 cannot carry at all (C0 controls but tab and line breaks, U+FFFE/U+FFFF) left
/// out — a log line with an escape sequence must not make the whole report unreadable.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Checked before any drill runs, so an hour of drills is not lost to a report that
/// cannot be written: the folder exists and the file does not.
pub fn check_target(path: &Path) -> Result<(), String> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(format!(
            "--junit {}: the file exists; drill-cockpit never overwrites a report: choose another path or remove it",
            shown(path)
        ));
    }
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(format!(
            "--junit {}: its folder {} does not exist: create it first (mkdir -p)",
            shown(path),
            shown(folder)
        ));
    }
    Ok(())
}

/// Writes `xml` to a new file at `path` (never over an existing one).
pub fn write(path: &Path, xml: &str) -> Result<(), String> {
    // A bare file name has an empty parent, which cannot be opened to sync it.
    let placed = match path.parent() {
        Some(parent) if parent.as_os_str().is_empty() => Path::new(".").join(path),
        _ => path.to_path_buf(),
    };
    crate::evidence::durable::write_new_file(&placed, xml.as_bytes())
        .map_err(|e| format!("--junit {}: {e}", shown(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_and_an_error_are_counted_and_their_text_escaped() {
        let cases = vec![
            Case {
                name: "es_429_inject".into(),
                classname: "drills".into(),
                seconds: 4.25,
                properties: vec![("run_dir".into(), "snapshots/a&b/1".into())],
                ending: Ending::Passed,
            },
            Case {
                name: "stuck_reclaim".into(),
                classname: "drills".into(),
                seconds: 1.0,
                properties: Vec::new(),
                ending: Ending::Failed {
                    message: "failed checks: reclaimed".into(),
                    detail: "reclaimed: saw <0> \u{1b}[31m\"none\"".into(),
                },
            },
            Case {
                name: "es_down_connect".into(),
                classname: "drills".into(),
                seconds: 0.0,
                properties: Vec::new(),
                ending: Ending::Error {
                    message: "could not run".into(),
                    detail: String::new(),
                },
            },
        ];
        let xml = render("drill-cockpit run all", &cases, 5.25);
        assert!(
            xml.contains("tests=\"3\" failures=\"1\" errors=\"1\""),
            "{xml}"
        );
        assert!(xml.contains("value=\"snapshots/a&amp;b/1\""), "{xml}");
        assert!(
            xml.contains("saw &lt;0&gt; [31m&quot;none&quot;</failure>"),
            "{xml}"
        );
        assert!(!xml.contains('\u{1b}'));
    }

    #[test]
    fn an_existing_report_or_a_missing_folder_is_refused_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        let taken = dir.path().join("junit.xml");
        std::fs::write(&taken, "old").unwrap();
        assert!(
            check_target(&taken)
                .unwrap_err()
                .contains("never overwrites")
        );
        let nowhere = dir.path().join("no/such/junit.xml");
        assert!(
            check_target(&nowhere)
                .unwrap_err()
                .contains("does not exist")
        );
        assert_eq!(check_target(&dir.path().join("new.xml")), Ok(()));
    }
}
