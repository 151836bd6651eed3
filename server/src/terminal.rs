//! What `databook exec` and `databook call` print: a result on stdout, the
//! plugin's log and errors on stderr. Everything in them is the plugin's
//! text, so control characters are escaped wherever a person reads it: a
//! plugin must not write to the clipboard (OSC 52), set the window title,
//! clear the screen or overwrite a line of the terminal.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

use databook_notebook::render;

/// `text` with every control character but newline and tab written as a
/// visible escape (`\u{1b}`); unchanged, and not copied, when it has none.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let is_control = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.contains(is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_control(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Prints a result on stdout. On a terminal it is rendered as the notebook
/// shows it (tables aligned, time series as sparklines), escaped; piped, it
/// is the data itself for the next program (JSON pretty-printed).
pub fn print_result(mime: &str, data: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let text = if stdout.is_terminal() {
        let lines = render(mime, data, 0);
        escape_controls(&lines.join("\n")).into_owned()
    } else {
        for_pipe(mime, data)
    };
    stdout.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()
}

/// The data as it goes to another program: JSON pretty-printed, the rest
/// as it is.
fn for_pipe(mime: &str, data: &str) -> String {
    if (mime == "application/json" || mime.ends_with("+json"))
        && let Ok(value) = serde_json::from_str::<serde_json::Value>(data)
        && let Ok(pretty) = serde_json::to_string_pretty(&value)
    {
        return pretty;
    }
    data.to_string()
}

/// Prints one of the plugin's log lines on stderr.
pub fn print_log(plugin: &str, level: &str, message: &str) {
    eprintln!("{plugin}: {level}: {}", escape_controls(message));
}

/// Prints the plugin's error, and its hint if any, on stderr.
pub fn print_error(plugin: &str, message: &str, hint: Option<&str>) {
    eprintln!("error: {plugin}: {}", escape_controls(message));
    if let Some(hint) = hint {
        eprintln!("hint: {}", escape_controls(hint));
    }
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_are_escaped_but_newlines_and_tabs_kept() {
        assert_eq!(escape_controls("a\tb\nc"), "a\tb\nc");
        assert_eq!(
            escape_controls("\u{1b}]52;c;aGk=\u{7}x\ry\u{9b}2J"),
            "\\u{1b}]52;c;aGk=\\u{7}x\\u{d}y\\u{9b}2J"
        );
    }
}
