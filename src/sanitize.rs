//! Captured bytes are untrusted. Everything drawn in the terminal (text report, TUI)
//! goes through `display`, which escapes control characters (C0, DEL, C1), bidi
//! overrides and zero-width characters, so a URI cannot move the cursor, recolour the
//! screen, set the window title or reorder what the user reads. JSON keeps the text
//! (serde escapes C0) but `json_safe` also escapes DEL, C1 and bidi characters.

use std::borrow::Cow;

/// True for characters that must not reach a terminal as they are.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}' // zero-width no-break space
            | '\u{061C}' // arabic letter mark
        )
}

fn escape_into(out: &mut String, c: char) {
    use std::fmt::Write;
    match c {
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '\n' => out.push_str("\\n"),
        c if (c as u32) < 0x100 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// Text safe for a terminal, cut to at most `max_chars` characters (with `…`).
pub fn display(text: &str, max_chars: usize) -> Cow<'_, str> {
    let clean = !text.chars().any(needs_escape);
    if clean && text.chars().count() <= max_chars {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().min(max_chars * 2));
    let mut count = 0usize;
    for c in text.chars() {
        let before = out.len();
        if needs_escape(c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
        count += out[before..].chars().count();
        if count > max_chars {
            // Cut back to max_chars - 1 characters and mark the cut.
            let keep: String = out.chars().take(max_chars.saturating_sub(1)).collect();
            return Cow::Owned(keep + "…");
        }
    }
    Cow::Owned(out)
}

/// Bytes as text safe for a terminal: invalid UTF-8 becomes `\xNN` escapes.
pub fn display_bytes(bytes: &[u8], max_chars: usize) -> String {
    let mut text = String::new();
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        for b in chunk.invalid() {
            use std::fmt::Write;
            let _ = write!(text, "\\x{b:02x}");
        }
    }
    display(&text, max_chars).into_owned()
}

/// Text for JSON: serde_json escapes C0 controls itself; this also escapes DEL, C1
/// controls and bidi/zero-width characters as `\u{…}` text so that a JSON viewer
/// printing the string raw cannot be fooled either.
pub fn json_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| (c as u32) >= 0x20 && needs_escape(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if (c as u32) < 0x20 {
            out.push(c); // serde_json escapes these as \u00XX
        } else if needs_escape(c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(display("/a\x1b[31mred\x07", 100), "/a\\x1b[31mred\\x07");
        assert_eq!(display("x\u{202e}y", 100), "x\\u{202e}y");
        assert_eq!(display("del\x7f c1\u{9b}", 100), "del\\x7f c1\\x9b");
        assert_eq!(display("tab\there", 100), "tab\\there");
    }

    #[test]
    fn clean_text_is_borrowed_and_cut() {
        assert!(matches!(display("/index.html", 100), Cow::Borrowed(_)));
        assert_eq!(display("abcdefgh", 5), "abcd…");
        assert_eq!(display("ab\x1bcdef", 5).chars().count(), 5);
    }

    #[test]
    fn invalid_utf8_is_escaped() {
        assert_eq!(display_bytes(b"/\xff\xfeok", 100), "/\\xff\\xfeok");
    }

    #[test]
    fn json_safe_keeps_c0_for_serde_and_escapes_the_rest() {
        assert_eq!(json_safe("a\x1bb"), "a\x1bb");
        assert_eq!(json_safe("a\u{9b}b\u{202e}"), "a\\x9bb\\u{202e}");
        assert!(matches!(json_safe("plain"), Cow::Borrowed(_)));
    }
}
