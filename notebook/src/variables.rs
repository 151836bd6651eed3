//! References in a cell's body, replaced by the host before the plugin sees
//! the body:
//!
//! - `{{NAME}}`: a variable's value (letters, digits, `_`, not starting with
//!   a digit);
//! - `{{CELL.PATH}}`: a value out of the named cell's latest JSON result, by
//!   a path of `.key` and `[index]` steps (`{{login.token}}`,
//!   `{{users.items[0].id}}`, `{{r["odd key"]}}`), which makes that cell an
//!   input of this one.
//!
//! Spaces around the reference are allowed, and `\{{` writes `{{` itself.
//! Anything else between braces, such as a jq object `{{"a": 1}}`, is left
//! as it is.

use std::fmt;
use std::ops::Range;

use serde_json::Value;

use crate::options::is_cell_name;

/// One `{{NAME}}` in a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableRef {
    pub name: String,
    /// The whole `{{ NAME }}`, as a byte range of the body.
    pub range: Range<usize>,
}

/// One `{{CELL.PATH}}` in a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueRef {
    /// The cell's `name=`.
    pub cell: String,
    /// The steps into its result, at least one.
    pub path: Vec<Step>,
    /// The whole `{{ CELL.PATH }}`, as a byte range of the body.
    pub range: Range<usize>,
    /// The cell's name within it, as a byte range of the body.
    pub cell_range: Range<usize>,
}

/// A step of a path into a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `.key` or `["key"]`: a member of an object.
    Key(String),
    /// `[n]`: an item of an array.
    Index(usize),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Key(key) if is_plain_key(key) => write!(f, ".{key}"),
            Step::Key(key) => write!(f, "[{}]", Value::from(key.as_str())),
            Step::Index(index) => write!(f, "[{index}]"),
        }
    }
}

impl ValueRef {
    /// The reference as written canonically: `login.token`.
    pub fn text(&self) -> String {
        let mut text = self.cell.clone();
        for step in &self.path {
            text.push_str(&step.to_string());
        }
        text
    }
}

/// A reference in a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyRef {
    Variable(VariableRef),
    Value(ValueRef),
}

impl BodyRef {
    /// The whole reference, braces included, as a byte range of the body.
    pub fn range(&self) -> &Range<usize> {
        match self {
            BodyRef::Variable(var) => &var.range,
            BodyRef::Value(value) => &value.range,
        }
    }
}

/// A piece of a body: text as it is, or a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Ref(BodyRef),
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A key that a path writes as `.key`.
fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads `CELL.PATH` (already trimmed, starting at byte `at` of the body).
fn value_ref(inner: &str, at: usize, range: Range<usize>) -> Option<ValueRef> {
    let name_end = inner.find(['.', '[']).unwrap_or(inner.len());
    let cell = &inner[..name_end];
    if !is_cell_name(cell) {
        return None;
    }
    let mut path = Vec::new();
    let mut rest = &inner[name_end..];
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(after.len());
            if end == 0 {
                return None;
            }
            path.push(Step::Key(after[..end].to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inside = &after[..end];
            if let Ok(index) = inside.parse::<usize>() {
                path.push(Step::Index(index));
            } else if inside.starts_with('"') {
                // A quoted key is a JSON string, so that any key can be
                // written; a `]` inside one is not supported.
                let Ok(Value::String(key)) = serde_json::from_str(inside) else {
                    return None;
                };
                path.push(Step::Key(key));
            } else {
                return None;
            }
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    if path.is_empty() {
        return None;
    }
    Some(ValueRef {
        cell: cell.to_string(),
        path,
        range,
        cell_range: at..at + cell.len(),
    })
}

/// The body cut into text and references, in order.
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
        let between = &body[open + 2..close];
        let inner = between.trim();
        let inner_at = open + 2 + (between.len() - between.trim_start().len());
        let range = open..close + 2;
        let found = if is_name(inner) {
            Some(BodyRef::Variable(VariableRef {
                name: inner.to_string(),
                range,
            }))
        } else {
            value_ref(inner, inner_at, range).map(BodyRef::Value)
        };
        match found {
            Some(found) => {
                pieces.push(Piece::Text(&body[text_start..open]));
                pieces.push(Piece::Ref(found));
                text_start = close + 2;
                at = close + 2;
            }
            None => at = open + 2,
        }
    }
    pieces.push(Piece::Text(&body[text_start..]));
    pieces
}

/// Every reference in `body`, in order.
pub fn body_refs(body: &str) -> Vec<BodyRef> {
    // Most bodies have none: one search says so.
    if !body.contains("{{") {
        return Vec::new();
    }
    pieces(body)
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Ref(found) => Some(found),
            Piece::Text(_) => None,
        })
        .collect()
}

/// Every `{{NAME}}` in `body`, in order.
pub fn variable_refs(body: &str) -> Vec<VariableRef> {
    body_refs(body)
        .into_iter()
        .filter_map(|found| match found {
            BodyRef::Variable(var) => Some(var),
            BodyRef::Value(_) => None,
        })
        .collect()
}

/// Every `{{CELL.PATH}}` in `body`, in order.
pub fn value_refs(body: &str) -> Vec<ValueRef> {
    body_refs(body)
        .into_iter()
        .filter_map(|found| match found {
            BodyRef::Value(value) => Some(value),
            BodyRef::Variable(_) => None,
        })
        .collect()
}

/// `body` with each reference replaced by `value(reference)` and each
/// `\{{` by `{{`; the first reference `value` refuses ends it with that
/// error.
pub fn substitute<E>(
    body: &str,
    mut value: impl FnMut(&BodyRef) -> Result<String, E>,
) -> Result<String, E> {
    let mut out = String::with_capacity(body.len());
    for piece in pieces(body) {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Ref(found) => out.push_str(&value(&found)?),
        }
    }
    Ok(out)
}

/// Why a path leads nowhere in a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("it has no key `{key}`{}", keys_hint(.keys))]
    NoKey { key: String, keys: Vec<String> },
    #[error("it has {len} items, so no [{index}]")]
    NoIndex { index: usize, len: usize },
    #[error("at {at} it is {found}, not {wanted}")]
    WrongKind {
        at: String,
        found: &'static str,
        wanted: &'static str,
    },
}

fn keys_hint(keys: &[String]) -> String {
    if keys.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = keys.iter().take(8).map(String::as_str).collect();
    let more = if keys.len() > shown.len() {
        ", …"
    } else {
        ""
    };
    format!(" (its keys: {}{more})", shown.join(", "))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value that `path` leads to in `value`.
pub fn follow<'v>(value: &'v Value, path: &[Step]) -> Result<&'v Value, PathError> {
    let mut at = value;
    let mut walked = String::new();
    for step in path {
        at = match (step, at) {
            (Step::Key(key), Value::Object(map)) => {
                map.get(key).ok_or_else(|| PathError::NoKey {
                    key: key.clone(),
                    keys: map.keys().cloned().collect(),
                })?
            }
            (Step::Index(index), Value::Array(items)) => {
                items.get(*index).ok_or(PathError::NoIndex {
                    index: *index,
                    len: items.len(),
                })?
            }
            (step, other) => {
                return Err(PathError::WrongKind {
                    at: if walked.is_empty() {
                        "the top".to_string()
                    } else {
                        format!("`{}`", walked.trim_start_matches('.'))
                    },
                    found: kind(other),
                    wanted: match step {
                        Step::Key(_) => "an object",
                        Step::Index(_) => "an array",
                    },
                });
            }
        };
        walked.push_str(&step.to_string());
    }
    Ok(at)
}

/// A result as JSON, for `{{CELL.PATH}}`: its data parsed when its MIME
/// type is JSON (`application/json`, or any `+json`).
pub fn result_json(mime: &str, data: &str) -> Result<Value, String> {
    let essence = crate::formats::essence(mime);
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(format!("its result is {essence}, not JSON"));
    }
    serde_json::from_str(data).map_err(|error| format!("its result is not valid JSON: {error}"))
}

/// A JSON value as it goes into a body: a string as its text, anything else
/// as compact JSON.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(body: &str) -> Result<String, String> {
        substitute(body, |found| match found {
            BodyRef::Variable(var) if var.name == "HOST" => Ok("127.0.0.1:9090".to_string()),
            BodyRef::Variable(var) => Err(format!("no {}", var.name)),
            BodyRef::Value(value) => Ok(format!("<{}>", value.text())),
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
            with("{{1x}} {{ }} {{a.}} {{a[x]}} {{_a.b}} {{a-b}} {{").unwrap(),
            "{{1x}} {{ }} {{a.}} {{a[x]}} {{_a.b}} {{a-b}} {{"
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

    #[test]
    fn cell_values_are_read_with_their_paths() {
        let body =
            r#"Authorization: Bearer {{ login.token }} {{users.items[0].id}} {{r["odd key"][2]}}"#;
        let refs = value_refs(body);
        let texts: Vec<String> = refs.iter().map(ValueRef::text).collect();
        assert_eq!(
            texts,
            ["login.token", "users.items[0].id", r#"r["odd key"][2]"#]
        );
        assert_eq!(&body[refs[0].range.clone()], "{{ login.token }}");
        assert_eq!(&body[refs[0].cell_range.clone()], "login");
        assert_eq!(&body[refs[1].cell_range.clone()], "users");
        assert_eq!(
            refs[1].path,
            [
                Step::Key("items".into()),
                Step::Index(0),
                Step::Key("id".into())
            ]
        );
        assert_eq!(
            with("a {{login.token}} b {{HOST}}").unwrap(),
            "a <login.token> b 127.0.0.1:9090"
        );
        assert!(variable_refs(body).is_empty());
    }

    #[test]
    fn paths_lead_to_values_or_say_why_not() {
        let value: Value =
            serde_json::from_str(r#"{"token": "abc", "items": [{"id": 7}], "n": 1}"#).unwrap();
        let path = |text: &str| value_refs(&format!("{{{{c.{text}}}}}"))[0].path.clone();
        assert_eq!(value_text(follow(&value, &path("token")).unwrap()), "abc");
        assert_eq!(
            value_text(follow(&value, &path("items[0].id")).unwrap()),
            "7"
        );
        assert_eq!(
            value_text(follow(&value, &path("items[0]")).unwrap()),
            r#"{"id":7}"#
        );
        assert_eq!(
            follow(&value, &path("nope")).unwrap_err().to_string(),
            "it has no key `nope` (its keys: items, n, token)"
        );
        assert_eq!(
            follow(&value, &path("items[3]")).unwrap_err().to_string(),
            "it has 1 items, so no [3]"
        );
        assert_eq!(
            follow(&value, &path("n.x")).unwrap_err().to_string(),
            "at `n` it is a number, not an object"
        );
    }
}
