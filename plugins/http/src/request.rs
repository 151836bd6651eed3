//! The request a cell writes, in the syntax of `.http` files:
//!
//! ```text
//! # comments and blank lines before the request line are skipped
//! POST http://127.0.0.1:8080/items HTTP/1.1
//! Content-Type: application/json
//!
//! {"name": "a"}
//! ```
//!
//! The method is optional (a line holding only a URL is a GET), the HTTP
//! version is accepted and ignored, header lines run to the first blank
//! line, and everything after it is the body, exactly as written.

use http_types::{HeaderName, HeaderValue};

/// A request, as written.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// What is wrong with a cell's request, at byte offsets into its body.
#[derive(Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub start: usize,
    pub end: usize,
    pub message: String,
}

impl SyntaxError {
    fn new(start: usize, end: usize, message: String) -> SyntaxError {
        SyntaxError {
            start,
            end,
            message,
        }
    }
}

/// One line of the body with the byte offset where it starts; the line
/// ending (`\n` or `\r\n`) is not part of it.
struct Line<'a> {
    start: usize,
    text: &'a str,
    /// Where the next line starts.
    next: usize,
}

impl Line<'_> {
    fn end(&self) -> usize {
        self.start + self.text.len()
    }

    fn is_blank(&self) -> bool {
        self.text.trim().is_empty()
    }

    fn is_comment(&self) -> bool {
        let text = self.text.trim_start();
        text.starts_with('#') || text.starts_with("//")
    }
}

fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    let mut start = 0;
    text.split_inclusive('\n').map(move |raw| {
        let line = Line {
            start,
            text: raw.trim_end_matches('\n').trim_end_matches('\r'),
            next: start + raw.len(),
        };
        start += raw.len();
        line
    })
}

/// The whitespace-separated words of a line, each with its byte offset in
/// the body.
fn words<'a>(line: &Line<'a>) -> Vec<(usize, &'a str)> {
    let text = line.text;
    let mut words = Vec::new();
    let mut rest = text;
    while let Some(begin) = rest.find(|c: char| !c.is_whitespace()) {
        let word = &rest[begin..];
        let len = word.find(char::is_whitespace).unwrap_or(word.len());
        let offset = line.start + (text.len() - rest.len()) + begin;
        words.push((offset, &word[..len]));
        rest = &word[len..];
    }
    words
}

/// Reads the request written in `text`.
pub fn parse(text: &str) -> Result<Request, SyntaxError> {
    let mut lines = lines(text).skip_while(|line| line.is_blank() || line.is_comment());
    let Some(request_line) = lines.next() else {
        return Err(SyntaxError::new(
            0,
            text.len(),
            "there is no request: write a line such as `GET http://127.0.0.1:8080/`".into(),
        ));
    };
    let (method, url) = request_line_parts(&request_line)?;

    let mut headers = Vec::new();
    let mut body_start = text.len();
    for line in lines.by_ref() {
        if line.is_blank() {
            body_start = line.next;
            break;
        }
        if line.is_comment() {
            continue;
        }
        headers.push(header(&line)?);
    }
    let body = text.get(body_start..).unwrap_or_default().to_string();
    Ok(Request {
        method,
        url,
        headers,
        body,
    })
}

/// `METHOD URL [HTTP/VERSION]`, or a URL alone.
fn request_line_parts(line: &Line<'_>) -> Result<(String, String), SyntaxError> {
    let words = words(line);
    let (method, (url_start, url), rest) = if words[0].1.contains("://") {
        ("GET", words[0], &words[1..])
    } else {
        let (start, method) = words[0];
        let is_method = method.bytes().all(|b| b.is_ascii_uppercase() || b == b'-');
        if !is_method {
            let hint = if method.bytes().all(|b| b.is_ascii_alphabetic()) {
                format!(" (write it in capitals: {})", method.to_ascii_uppercase())
            } else {
                String::new()
            };
            return Err(SyntaxError::new(
                start,
                start + method.len(),
                format!("`{method}` is not an HTTP method{hint}"),
            ));
        }
        let Some(&url) = words.get(1) else {
            return Err(SyntaxError::new(
                line.start,
                line.end(),
                format!("a URL must follow {method}, as in `{method} http://127.0.0.1:8080/`"),
            ));
        };
        (method, url, &words[2..])
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(SyntaxError::new(
            url_start,
            url_start + url.len(),
            format!("`{url}` is not a URL: it must start with http:// or https://"),
        ));
    }
    match rest {
        [] => {}
        [(_, version)] if version.starts_with("HTTP/") => {}
        [(start, _), ..] => {
            return Err(SyntaxError::new(
                *start,
                line.end(),
                "unexpected text after the URL (write a space inside a URL as %20)".into(),
            ));
        }
    }
    Ok((method.to_string(), url.to_string()))
}

/// `Name: value`.
fn header(line: &Line<'_>) -> Result<(String, String), SyntaxError> {
    let Some((name, value)) = line.text.split_once(':') else {
        return Err(SyntaxError::new(
            line.start,
            line.end(),
            "a header is written `Name: value`; leave a blank line before the body".into(),
        ));
    };
    let name_start = line.start + (name.len() - name.trim_start().len());
    let name = name.trim();
    if HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(SyntaxError::new(
            name_start,
            name_start + name.len(),
            format!("`{name}` is not a header name"),
        ));
    }
    // The value's offset: after the name and its colon, past any spaces.
    let value_start = line.start + line.text.len() - value.trim_start().len();
    let value = value.trim();
    if HeaderValue::from_str(value).is_err() {
        return Err(SyntaxError::new(
            value_start,
            value_start + value.len(),
            format!("the value of {name} holds a character a header cannot carry"),
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Request {
        Request {
            method: method.into(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.into(),
        }
    }

    #[test]
    fn a_url_alone_is_a_get() {
        assert_eq!(
            parse("http://127.0.0.1:8080/x?a=b"),
            Ok(request("GET", "http://127.0.0.1:8080/x?a=b", &[], ""))
        );
    }

    #[test]
    fn method_headers_and_body() {
        let text = "# create one\nPOST https://api.example.com/items HTTP/1.1\r\nContent-Type: application/json\nX-Trace:  a b \n\n{\"a\": 1}\n\nmore";
        assert_eq!(
            parse(text),
            Ok(request(
                "POST",
                "https://api.example.com/items",
                &[("Content-Type", "application/json"), ("X-Trace", "a b")],
                "{\"a\": 1}\n\nmore"
            ))
        );
    }

    #[test]
    fn errors_point_at_what_is_wrong() {
        let text = "get http://h/";
        let error = parse(text).unwrap_err();
        assert_eq!((error.start, error.end), (0, 3));
        assert_eq!(
            error.message,
            "`get` is not an HTTP method (write it in capitals: GET)"
        );

        let text = "GET /relative";
        let error = parse(text).unwrap_err();
        assert_eq!(&text[error.start..error.end], "/relative");

        let text = "GET http://h/\nAccept application/json\n";
        let error = parse(text).unwrap_err();
        assert_eq!(&text[error.start..error.end], "Accept application/json");

        let text = "GET http://h/\n  Bad Name: x\n";
        let error = parse(text).unwrap_err();
        assert_eq!(&text[error.start..error.end], "Bad Name");

        let text = "GET http://h/ and more";
        let error = parse(text).unwrap_err();
        assert_eq!(&text[error.start..error.end], "and more");

        let error = parse("\n# only a comment\n").unwrap_err();
        assert!(error.message.starts_with("there is no request"));
    }
}
