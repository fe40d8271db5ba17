//! Text from evidence made safe for one spot of `report.md`: a table cell, an inline
//! code span, or a list item's words. Evidence holds `|`, backticks and line breaks
//! (a check's title is `retry_scheduled{es_connect|es_unreachable}`, an error has its
//! traceback); unescaped, they split a table's columns or end a list item early.

/// Line breaks as spaces, then escape sequences and controls removed and the text cut
/// at `max` characters. `sanitize::one_line` drops a `\n` outright, which would glue the
/// last word of one line to the first of the next.
fn flattened(text: &str, max: usize) -> String {
    let spaced = text.replace("\r\n", " ").replace(['\n', '\r'], " ");
    crate::sanitize::one_line(&spaced, max)
}

/// A table cell: one line, `|` escaped as `\|` (GitHub's tables honour the escape even
/// inside a code span).
pub fn cell(text: &str, max: usize) -> String {
    flattened(text, max).replace('|', "\\|")
}

/// The inside of a `` `code` `` span: one line, backticks (which would end the span)
/// shown as `'`.
pub fn code(text: &str, max: usize) -> String {
    flattened(text, max).replace('`', "'")
}

/// A code span that also sits in a table cell.
pub fn code_cell(text: &str, max: usize) -> String {
    cell(&code(text, max), max)
}

/// Words in a list item or a heading: one line, so they cannot start a new item,
/// heading or table of their own.
pub fn words(text: &str, max: usize) -> String {
    flattened(text, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_in_a_cell_is_escaped() {
        assert_eq!(
            cell("retry_scheduled{es_connect|es_unreachable} Δ≥1", 200),
            "retry_scheduled{es_connect\\|es_unreachable} Δ≥1"
        );
    }

    #[test]
    fn line_breaks_become_spaces_never_glued_words() {
        assert_eq!(
            cell("Traceback:\r\n  boom\nlast|line\r", 200),
            "Traceback:   boom last\\|line "
        );
        assert_eq!(words("note\n# not a heading", 200), "note # not a heading");
    }

    #[test]
    fn a_backtick_cannot_end_a_code_span() {
        assert_eq!(code("ab`c\u{1b}[31m", 200), "ab'c");
        assert_eq!(code_cell("a|`b", 200), "a\\|'b");
    }

    #[test]
    fn long_text_is_cut_before_escaping() {
        let cut = cell(&"|".repeat(50), 10);
        assert_eq!(cut, format!("{}…", "\\|".repeat(9)));
    }
}
