//! Small formatting helpers shared by the subcommands: rates, JSON lines, and text made safe
//! for a terminal.
//!
//! Names, paths, comments, tracker texts and error messages come from torrents, peers and
//! trackers that anyone can write. Before such text reaches a terminal, [`escaped`] turns its
//! control characters (which could move the cursor, recolour or retitle the terminal, or hide
//! what follows) into visible escapes such as `\u{1b}`. JSON output stays exact: JSON already
//! escapes control characters.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

pub use mt::error::human_bytes;

/// Bytes per second over `elapsed`, as e.g. `1.2 GiB/s`.
pub fn rate(bytes: u64, elapsed: Duration) -> String {
    format!("{}/s", human_bytes(per_second(bytes, elapsed)))
}

/// Whole bytes per second.
// A rate is non-negative and far below u64::MAX; rounding toward zero is what we want.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn per_second(bytes: u64, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64().max(1e-6);
    (bytes as f64 / secs) as u64
}

/// Prints one JSON value on its own line.
pub fn json_line(value: &serde_json::Value) {
    println!("{value}");
}

/// `text` with every control character, and every character that reorders the text around
/// it (bidirectional overrides and isolates), written as a visible escape like `\u{1b}` or
/// `\t`. Other text is returned unchanged.
pub fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A path as text safe for a terminal (see [`escaped`]).
pub fn escaped_path(path: &Path) -> String {
    escaped(&path.to_string_lossy()).into_owned()
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::escaped;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(escaped("album/01 – Intro.flac"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn control_and_reordering_characters_become_visible_escapes() {
        assert_eq!(
            escaped("a\u{1b}[2Jb\tc\r\n\u{7f}\u{9b}"),
            "a\\u{1b}[2Jb\\tc\\r\\n\\u{7f}\\u{9b}"
        );
        assert_eq!(escaped("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
    }
}
