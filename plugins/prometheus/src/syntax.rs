//! PromQL syntax errors with their byte ranges, without any network.
//!
//! `promql-parser` says what is wrong but not where: its errors are plain
//! strings, and a grammar error is only "invalid promql query". So the
//! place is found here, from the parser's own answers:
//!
//! - a lexer error (a bad character, an unterminated string) is at the end
//!   of the shortest prefix of the query that gives the same error;
//! - an unclosed `(` is the last one left open;
//! - a grammar error is at the first token after which no completion of the
//!   query can parse: each prefix of tokens is tried with a few likely
//!   endings (a number, a duration, a label value) and its brackets closed;
//! - a type error that names a function points at that function's name;
//!   any other covers the whole query.

use std::ops::Range;

use lrpar::{Lexeme, Lexer};
use promql_parser::parser;

/// A PromQL error at byte offsets into the query.
#[derive(Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub range: Range<usize>,
    pub message: String,
}

/// What `promql-parser` says of any grammar error.
const INVALID: &str = "invalid promql query";

/// Checks `query`: none when it parses (or holds only blanks and comments).
pub fn check(query: &str) -> Option<SyntaxError> {
    let message = parser::parse(query).err()?;
    if message.starts_with("no expression found") {
        return None;
    }
    let range = match tokens(query) {
        Err(_) => lexer_error_range(query, &message),
        Ok(tokens) if message == INVALID => return Some(grammar_error(query, &tokens)),
        Ok(tokens) => semantic_error_range(query, &tokens, &message),
    };
    Some(SyntaxError { range, message })
}

/// The spans of the query's tokens, or the lexer's error.
fn tokens(query: &str) -> Result<Vec<Range<usize>>, String> {
    let lexer = parser::lexer(query)?;
    Ok(lexer
        .iter()
        .filter_map(Result::ok)
        .map(|lexeme| {
            let span = lexeme.span();
            span.start()..span.end()
        })
        // The lexer ends with an empty end-of-input lexeme.
        .filter(|span| !span.is_empty())
        .collect())
}

fn lexer_error_range(query: &str, message: &str) -> Range<usize> {
    if message == "unclosed left parenthesis"
        && let Some(open) = last_unclosed_paren(query)
    {
        return open..open + 1;
    }
    // The lexer reads left to right and stops at its error, so the shortest
    // prefix that fails the same way ends just past the offending text.
    let end = query
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .find(|&end| parser::lexer(&query[..end]).err().as_deref() == Some(message))
        .unwrap_or(query.len());
    // Widen to the word it ends, so that `5x` in `up[5x]` is marked whole;
    // a stray symbol is marked alone.
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    let last = query[..end].chars().next_back().map_or(0, char::len_utf8);
    let mut start = end - last;
    if query[start..end].chars().all(is_word) {
        start = query[..start]
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_word(*c))
            .last()
            .map_or(start, |(i, _)| i);
    }
    start..end
}

/// The byte offset of the innermost `(` still open at the end of `query`,
/// skipping strings and comments.
fn last_unclosed_paren(query: &str) -> Option<usize> {
    let mut open = Vec::new();
    let mut chars = query.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '(' => open.push(i),
            ')' => {
                open.pop();
            }
            '"' | '\'' | '`' => {
                let mut escaped = false;
                for (_, d) in chars.by_ref() {
                    if d == c && !escaped {
                        break;
                    }
                    escaped = d == '\\' && !escaped && c != '`';
                }
            }
            '#' => {
                for (_, d) in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    open.pop()
}

/// Endings tried after a prefix to see whether it can still be completed.
const ENDINGS: [&str; 7] = ["", " 1", " 5m", " (x)", "=\"\"", "\"\"", "5m"];

/// The closing brackets for the brackets `tokens` leaves open.
fn closers(query: &str, tokens: &[Range<usize>]) -> String {
    let mut open = Vec::new();
    for token in tokens {
        match &query[token.clone()] {
            "(" => open.push(')'),
            "[" => open.push(']'),
            "{" => open.push('}'),
            ")" | "]" | "}" => {
                open.pop();
            }
            _ => {}
        }
    }
    open.iter().rev().collect()
}

/// Whether some completion of `prefix` parses: grammar errors only count
/// (a wrong type or argument count is still valid syntax).
fn completable(query: &str, tokens: &[Range<usize>]) -> bool {
    let end = tokens.last().map_or(0, |t| t.end);
    let prefix = &query[..end];
    let closers = closers(query, tokens);
    ENDINGS.iter().any(|ending| {
        let attempt = format!("{prefix}{ending}{closers}");
        match parser::parse(&attempt) {
            Ok(_) => true,
            Err(message) => message != INVALID && parser::lexer(&attempt).is_ok(),
        }
    })
}

fn grammar_error(query: &str, tokens: &[Range<usize>]) -> SyntaxError {
    for count in 1..=tokens.len() {
        if !completable(query, &tokens[..count]) {
            let token = tokens[count - 1].clone();
            let message = format!("unexpected `{}`", &query[token.clone()]);
            return SyntaxError {
                range: token,
                message,
            };
        }
    }
    // Every prefix can go on: the query stops too early.
    let last = tokens.last().cloned().unwrap_or(0..query.len());
    let message = format!("the query ends after `{}`", &query[last.clone()]);
    SyntaxError {
        range: last,
        message,
    }
}

fn semantic_error_range(query: &str, tokens: &[Range<usize>], message: &str) -> Range<usize> {
    // "... in call to 'rate' ...", "unknown function with name 'foo'",
    // "... in call to function 'floor' ...".
    let named = message.split('\'').nth(1).filter(|name| !name.is_empty());
    if let Some(name) = named
        && let Some(token) = tokens.iter().find(|t| &query[(*t).clone()] == name)
    {
        return token.clone();
    }
    let start = tokens.first().map_or(0, |t| t.start);
    let end = tokens.last().map_or(query.len(), |t| t.end);
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(query: &str) -> (&str, String) {
        let error = check(query).expect("an error");
        (&query[error.range], error.message)
    }

    #[test]
    fn valid_queries_have_no_error() {
        for query in [
            "up",
            "sum by (job) (rate(prometheus_http_requests_total[5m]))",
            "up # a comment\n+ 1",
            "",
            "# only a comment",
        ] {
            assert_eq!(check(query), None, "{query}");
        }
    }

    #[test]
    fn grammar_errors_mark_the_first_impossible_token() {
        assert_eq!(marked("foo bar"), ("bar", "unexpected `bar`".into()));
        assert_eq!(marked("1 +* 2"), ("*", "unexpected `*`".into()));
        assert_eq!(marked("up @ foo"), ("foo", "unexpected `foo`".into()));
        assert_eq!(
            marked("foo{a=\"b\" c=\"d\"}"),
            ("c", "unexpected `c`".into())
        );
        assert_eq!(marked("up +"), ("+", "the query ends after `+`".into()));
    }

    #[test]
    fn lexer_errors_mark_the_offending_text() {
        assert_eq!(
            marked("up[5x]"),
            ("5x", "bad number or duration syntax: 5x".into())
        );
        let (text, message) = marked("foo{a*\"b\"}");
        assert_eq!(text, "*");
        assert_eq!(message, "unexpected character inside braces: '*'");
        assert_eq!(
            marked("f(a) + sum(rate(x[5m])"),
            ("(", "unclosed left parenthesis".into())
        );
        assert_eq!(check("f(a) + sum(rate(x[5m])").unwrap().range, 10..11);
    }

    #[test]
    fn type_errors_mark_the_function() {
        assert_eq!(
            marked("sum(rate(x))").0,
            "rate",
            "{:?}",
            check("sum(rate(x))")
        );
        assert_eq!(marked("nonexistent_fn(up)").0, "nonexistent_fn");
    }
}
