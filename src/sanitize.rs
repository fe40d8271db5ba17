//! Worker output is untrusted: before text reaches the terminal, escape sequences
//! (CSI, OSC, other ESC forms) and control characters are removed, tabs become spaces,
//! and over-long lines are cut for display (never in the stored log).

/// The text with escape sequences and control characters removed.
pub fn strip_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for_each_visible(text, |c| match c {
        '\t' => out.push_str("    "),
        '\n' => {}
        c => out.push(c),
    });
    out
}

/// Calls `visible` with each character of `text` that is meant to be seen, plus `\n` and
/// `\t` (the callers decide about layout): escape sequences (ESC and C1 introducers)
/// are skipped whole, other control and bidi/invisible format characters dropped.
fn for_each_visible(text: &str, mut visible: impl FnMut(char)) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 CSI/OSC introducers used without ESC by some terminals.
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' => skip_osc(&mut chars),
            '\n' | '\t' => visible(c),
            c if c.is_control() || is_invisible_format(c) => {}
            c => visible(c),
        }
    }
}

/// Bidi overrides and isolates (which reorder what a reader sees), marks, and
/// zero-width characters (which hide text): none belongs in evidence or on screen.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{061C}'
            | '\u{FEFF}'
    )
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        Some(']') | Some('P') | Some('X') | Some('^') | Some('_') => skip_osc(chars),
        // Two-character sequences (ESC c, ESC 7, ESC ( B …): drop the next one too when it is a charset designator.
        Some('(') | Some(')') | Some('*') | Some('+') => {
            chars.next();
        }
        _ => {}
    }
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    // Parameters and intermediates, then one final byte in 0x40..=0x7e.
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            break;
        }
    }
}

fn skip_osc(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    // Until BEL or ST (ESC \).
    while let Some(c) = chars.next() {
        if c == '\u{7}' || c == '\u{9c}' {
            break;
        }
        if c == '\u{1b}' && chars.peek() == Some(&'\\') {
            chars.next();
            break;
        }
    }
}

/// Every line sanitised, the line breaks kept: for whole documents (`report.md`).
pub fn strip_controls_per_line(text: &str) -> String {
    let mut out: String = text
        .lines()
        .map(strip_controls)
        .collect::<Vec<_>>()
        .join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Text from evidence made safe to put in HTML or SVG, as element text or inside a
/// quoted attribute: escape sequences, control characters (C0 but `\n` and `\t`, DEL,
/// C1) and bidi/invisible format characters removed, then `& < > " '` escaped. The one
/// escaping function of the HTML report and the timeline SVG.
pub fn markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for_each_visible(text, |c| match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c => out.push(c),
    });
    out
}

/// A path (or a name from the file system) for a terminal: every control or
/// bidi/invisible character shown as its escape (`\u{1b}`) rather than sent, so the
/// line stays safe and the name stays findable. Never cut.
pub fn path(path: &std::path::Path) -> String {
    visible(&path.to_string_lossy())
}

/// The text with each control or bidi/invisible format character written as `\u{..}`.
pub fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || is_invisible_format(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Sanitised and cut to `max` characters (with `…`), on one line.
pub fn one_line(text: &str, max: usize) -> String {
    let clean = strip_controls(text);
    if clean.chars().count() <= max {
        return clean;
    }
    let mut cut: String = clean.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_are_removed() {
        let hostile = "\u{1b}[31mred\u{1b}[0m \u{1b}]0;title\u{7}ok \u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{1b}\\ \u{1b}[2J\u{1b}[Hbell\u{7}\r\n\u{9b}1;1Hend";
        assert_eq!(strip_controls(hostile), "red ok link bellend");
        assert_eq!(strip_controls("a\tb"), "a    b");
    }

    #[test]
    fn one_line_cuts_long_text_on_char_boundaries() {
        assert_eq!(one_line("ééééé", 3), "éé…");
        let huge = "x".repeat(1_000_000);
        assert_eq!(one_line(&huge, 10).chars().count(), 10);
    }

    #[test]
    fn markup_escapes_and_drops_controls_and_bidi_but_keeps_lines_and_tabs() {
        let hostile = "<a href=\"x\">'&'</a>\u{1b}[31mred\u{7f}\u{85}\u{1}\r\n\tx\u{202E}\u{2066}\u{200E}\u{200F}\u{061C}y";
        assert_eq!(
            markup(hostile),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;red\n\txy"
        );
    }

    #[test]
    fn a_path_shows_its_controls_as_escapes() {
        let hostile = std::path::Path::new("runs/\u{1b}[31mred\u{202E}/x\ty");
        assert_eq!(path(hostile), "runs/\\u{1b}[31mred\\u{202e}/x\\u{9}y");
    }

    #[test]
    fn bidi_and_zero_width_characters_are_removed() {
        let hostile = "ok\u{202E}gnp.exe\u{2066}x\u{2069}\u{200B}y\u{200F}\u{061C}\u{FEFF}";
        assert_eq!(strip_controls(hostile), "okgnp.exexy");
        assert_eq!(strip_controls("\u{9d}52;c;aGk=\u{7}clip"), "clip");
    }
}
