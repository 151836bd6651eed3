//! Whether a string is a MIME type: RFC 6838's `type/subtype`, with
//! optional `; name=value` parameters as RFC 9110 writes them. A plugin's
//! MIME type goes into the notebook's `@output` header, so anything else
//! (a line break above all) must never get that far.

/// `restricted-name` of RFC 6838: a letter or digit, then up to 126 of
/// letters, digits and `!#$&-^_.+`.
fn is_restricted_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 127
        && bytes[0].is_ascii_alphanumeric()
        && bytes[1..]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
}

/// `token` of RFC 9110.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A `quoted-string` of RFC 9110: printable characters (and tabs), with
/// `\` escapes.
fn is_quoted_string(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return false;
    };
    let mut escaped = false;
    for c in inner.chars() {
        if c.is_control() && c != '\t' {
            return false;
        }
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return false;
        }
    }
    !escaped
}

/// Whether `s` is a MIME type such as `text/plain` or
/// `application/json; charset=utf-8`.
pub fn is_mime_type(s: &str) -> bool {
    let mut parts = s.split(';');
    let essence = parts.next().unwrap_or("");
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    if !is_restricted_name(kind) || !is_restricted_name(subtype.trim_end_matches([' ', '\t'])) {
        return false;
    }
    parts.all(|parameter| {
        let parameter = parameter.trim_matches([' ', '\t']);
        match parameter.split_once('=') {
            Some((name, value)) => is_token(name) && (is_token(value) || is_quoted_string(value)),
            None => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::is_mime_type;

    #[test]
    fn mime_types_are_read_by_the_rfcs() {
        for good in [
            "text/plain",
            "application/json",
            "application/vnd.databook.timeseries+json",
            "text/plain; charset=utf-8",
            "text/plain;charset=\"utf-8\"",
            "image/svg+xml",
        ] {
            assert!(is_mime_type(good), "{good:?}");
        }
        for bad in [
            "",
            "text",
            "text/",
            "/plain",
            "text/plain\n@plugin=http",
            "text/plain\r",
            "text/pla in",
            "text/plain; charset",
            "text/plain; a=\"b\nc\"",
            "tëxt/plain",
            "text/plain/x",
        ] {
            assert!(!is_mime_type(bad), "{bad:?}");
        }
    }
}
