//! `{{NAME}}` in a cell's body: a variable's value, put in by the host
//! before the plugin sees the body. `\{{` writes `{{` itself. Only a name
//! (letters, digits, `_`, not starting with a digit, spaces around it
//! allowed) between the braces is a variable: anything else, such as a jq
//! object `{{"a": 1}}`, is left as it is.

use std::ops::Range;

/// One `{{NAME}}` in a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableRef {
    pub name: String,
    /// The whole `{{ NAME }}`, as a byte range of the body.
    pub range: Range<usize>,
}

/// A piece of a body: text as it is, or a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Variable(VariableRef),
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The body cut into text and variables, in order.
fn pieces(body: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut text_start = 0;
    let mut at = 0;
    while let Some(found) = body[at..].find("{{") {
        let open = at + found;
        // `\{{`: the backslash goes, the braces stay.
        if open > 0 && body.as_bytes()[open - 1] == b'\\' {
            pieces.push(Piece::Text(&body[text_start..open - 1]));
            text_start = open;
            at = open + 2;
            continue;
        }
        let Some(close) = body[open + 2..].find("}}").map(|c| open + 2 + c) else {
            break;
        };
        let name = body[open + 2..close].trim();
        if is_name(name) {
            pieces.push(Piece::Text(&body[text_start..open]));
            pieces.push(Piece::Variable(VariableRef {
                name: name.to_string(),
                range: open..close + 2,
            }));
            text_start = close + 2;
            at = close + 2;
        } else {
            at = open + 2;
        }
    }
    pieces.push(Piece::Text(&body[text_start..]));
    pieces
}

/// Every `{{NAME}}` in `body`, in order.
pub fn variable_refs(body: &str) -> Vec<VariableRef> {
    pieces(body)
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Variable(var) => Some(var),
            Piece::Text(_) => None,
        })
        .collect()
}

/// `body` with each `{{NAME}}` replaced by `value(NAME)` and each `\{{` by
/// `{{`; the first variable `value` refuses ends it with that error.
pub fn substitute<E>(
    body: &str,
    mut value: impl FnMut(&str) -> Result<String, E>,
) -> Result<String, E> {
    let mut out = String::with_capacity(body.len());
    for piece in pieces(body) {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Variable(var) => out.push_str(&value(&var.name)?),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(body: &str) -> Result<String, String> {
        substitute(body, |name| match name {
            "HOST" => Ok("127.0.0.1:9090".to_string()),
            other => Err(format!("no {other}")),
        })
    }

    #[test]
    fn names_are_replaced_and_the_rest_is_kept() {
        assert_eq!(
            with("GET http://{{HOST}}/x").unwrap(),
            "GET http://127.0.0.1:9090/x"
        );
        assert_eq!(
            with("{{ HOST }}{{HOST}}").unwrap(),
            "127.0.0.1:9090127.0.0.1:9090"
        );
        assert_eq!(with(r"a \{{HOST}} b").unwrap(), "a {{HOST}} b");
        assert_eq!(with(r#"{{"a": 1}}"#).unwrap(), r#"{{"a": 1}}"#);
        assert_eq!(
            with("{{1x}} {{ }} {{a.b}} {{").unwrap(),
            "{{1x}} {{ }} {{a.b}} {{"
        );
        assert_eq!(with("{{NOPE}}"), Err("no NOPE".to_string()));
        assert_eq!(with("é {{HOST}} ü").unwrap(), "é 127.0.0.1:9090 ü");
    }

    #[test]
    fn refs_name_their_place() {
        let body = "x {{A}} \\{{B}} {{ C }}";
        let refs = variable_refs(body);
        let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["A", "C"]);
        assert_eq!(&body[refs[1].range.clone()], "{{ C }}");
    }
}
