//! What to suggest at the cursor in a PromQL query: metric names, label
//! names inside `{…}` (and in `by (…)`), or a label's values after
//! `label="`. Only the context is worked out here; the names come from the
//! Prometheus HTTP API (see `lib.rs`).

/// What the cursor is in.
#[derive(Debug, PartialEq, Eq)]
pub enum Context {
    /// A metric name (or a function), starting with `word`.
    Metric { word: String },
    /// A label name inside the braces after `metric` (if one is written).
    LabelName {
        metric: Option<String>,
        word: String,
    },
    /// A value of `label`, inside its quotes.
    LabelValue {
        metric: Option<String>,
        label: String,
        word: String,
    },
    /// Nowhere to complete (inside a duration, a string, a comment).
    None,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The name-like word that ends at the end of `text`.
fn trailing_word(text: &str) -> &str {
    let start = text
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_name_char(*c))
        .last()
        .map_or(text.len(), |(i, _)| i);
    &text[start..]
}

/// Where the cursor is, from the text before it.
pub fn context(before: &str) -> Context {
    // Find the innermost open brace, bracket or string, ignoring what is
    // closed; comments run to the end of their line.
    let mut brace: Option<usize> = None;
    let mut bracket = false;
    let mut string: Option<(char, usize)> = None;
    let mut comment = false;
    let mut escaped = false;
    for (i, c) in before.char_indices() {
        if comment {
            comment = c != '\n';
            continue;
        }
        if let Some((quote, _)) = string {
            if c == quote && !escaped {
                string = None;
            }
            escaped = c == '\\' && !escaped;
            continue;
        }
        match c {
            '#' => comment = true,
            '"' | '\'' | '`' => string = Some((c, i)),
            '{' => brace = Some(i),
            '}' => brace = None,
            '[' => bracket = true,
            ']' => bracket = false,
            _ => {}
        }
    }
    if comment || bracket {
        return Context::None;
    }
    let metric_before = |at: usize| {
        let name = trailing_word(before[..at].trim_end());
        (!name.is_empty()).then(|| name.to_string())
    };
    match (brace, string) {
        (Some(open), Some((_, quote))) => {
            // `label=~"val` : the label is the word before the operator.
            let operator = before[..quote].trim_end();
            let operator = operator.trim_end_matches(['=', '!', '~']);
            let label = trailing_word(operator.trim_end());
            if label.is_empty() {
                return Context::None;
            }
            Context::LabelValue {
                metric: metric_before(open),
                label: label.to_string(),
                word: before[quote + 1..].to_string(),
            }
        }
        (None, Some(_)) => Context::None,
        (Some(open), None) => {
            let word = trailing_word(before);
            let rest = before[open + 1..before.len() - word.len()].trim_end();
            // After `name=` the value's quote is expected, not a name.
            if rest.ends_with(['=', '~']) {
                return Context::None;
            }
            Context::LabelName {
                metric: metric_before(open),
                word: word.to_string(),
            }
        }
        (None, None) => {
            let word = trailing_word(before);
            let rest = before[..before.len() - word.len()].trim_end();
            if in_grouping(rest) {
                return Context::LabelName {
                    metric: None,
                    word: word.to_string(),
                };
            }
            // A number or a duration is not a metric.
            if word.starts_with(|c: char| c.is_ascii_digit()) {
                return Context::None;
            }
            Context::Metric {
                word: word.to_string(),
            }
        }
    }
}

/// Whether `rest` (the text before the word) is inside the label list of
/// `by (`, `without (`, `on (`, `ignoring (`, `group_left (` or
/// `group_right (`.
fn in_grouping(rest: &str) -> bool {
    let Some(open) = rest.rfind('(') else {
        return false;
    };
    if rest[open..].contains(')') {
        return false;
    }
    let keyword = trailing_word(rest[..open].trim_end());
    let inside = &rest[open + 1..];
    let only_labels = inside
        .split(',')
        .all(|part| part.trim().chars().all(is_name_char));
    only_labels
        && matches!(
            keyword.to_ascii_lowercase().as_str(),
            "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
        )
}

/// PromQL's aggregations and functions, suggested beside metric names.
pub const FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "avg",
    "avg_over_time",
    "bottomk",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "count",
    "count_over_time",
    "count_values",
    "day_of_week",
    "delta",
    "deriv",
    "exp",
    "floor",
    "group",
    "histogram_quantile",
    "holt_winters",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "max",
    "max_over_time",
    "min",
    "min_over_time",
    "predict_linear",
    "quantile",
    "quantile_over_time",
    "rate",
    "resets",
    "round",
    "scalar",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev",
    "stddev_over_time",
    "sum",
    "sum_over_time",
    "time",
    "timestamp",
    "topk",
    "vector",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(word: &str) -> Context {
        Context::Metric { word: word.into() }
    }

    #[test]
    fn metric_names_outside_braces() {
        assert_eq!(context(""), metric(""));
        assert_eq!(context("prometheus_ht"), metric("prometheus_ht"));
        assert_eq!(context("sum(rate(prom"), metric("prom"));
        assert_eq!(context("up + node:cpu"), metric("node:cpu"));
        assert_eq!(context("rate(x[5"), Context::None);
        assert_eq!(context("x offset 5"), Context::None);
        assert_eq!(context("up # comm"), Context::None);
    }

    #[test]
    fn label_names_inside_braces_and_groupings() {
        assert_eq!(
            context("up{jo"),
            Context::LabelName {
                metric: Some("up".into()),
                word: "jo".into()
            }
        );
        assert_eq!(
            context("up{job=\"x\", "),
            Context::LabelName {
                metric: Some("up".into()),
                word: "".into()
            }
        );
        assert_eq!(
            context("{"),
            Context::LabelName {
                metric: None,
                word: "".into()
            }
        );
        assert_eq!(
            context("sum by (job, inst"),
            Context::LabelName {
                metric: None,
                word: "inst".into()
            }
        );
        assert_eq!(context("up{job="), Context::None);
    }

    #[test]
    fn label_values_inside_quotes() {
        assert_eq!(
            context("up{job=\"prom"),
            Context::LabelValue {
                metric: Some("up".into()),
                label: "job".into(),
                word: "prom".into()
            }
        );
        assert_eq!(
            context("rate(x{a=\"1\", handler=~\""),
            Context::LabelValue {
                metric: Some("x".into()),
                label: "handler".into(),
                word: "".into()
            }
        );
        assert_eq!(context("label_replace(up, \"a"), Context::None);
    }
}
