//! The structured results databook understands, as typed values with one
//! parse each: tables (`application/vnd.databook.table+json`) and time
//! series (`application/vnd.databook.timeseries+json`). The file's
//! rendering, hover and the terminal all format these values, never the
//! raw JSON, so they cannot disagree. The schema is in
//! `docs/output-formats.md`.

use serde::Deserialize;
use serde_json::Value;

pub const TABLE_MIME: &str = "application/vnd.databook.table+json";
pub const TIMESERIES_MIME: &str = "application/vnd.databook.timeseries+json";

/// A MIME type without its parameters (`; charset=utf-8`), lowercased.
pub fn essence(mime: &str) -> String {
    mime.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A table: column names and rows of cells, every cell as text (a JSON
/// `null` is an empty cell, a number its JSON text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// A set of time series.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeries {
    pub series: Vec<Series>,
}

/// One series: its labels in key order, and its points in time order as
/// given. A point whose value is missing (`null`, `NaN`, an infinity) is a
/// gap.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Vec<(String, String)>,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Unix time in seconds.
    pub t: f64,
    /// `None` for a gap.
    pub v: Option<f64>,
}

/// The figures of a series with at least one value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub min: f64,
    pub max: f64,
    pub last: f64,
    /// How many points have a value.
    pub values: usize,
}

/// Why data does not have the shape its MIME type promises.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{mime}: {message}")]
pub struct FormatError {
    pub mime: &'static str,
    pub message: String,
}

impl Table {
    pub fn parse(data: &str) -> Result<Table, FormatError> {
        #[derive(Deserialize)]
        struct Raw {
            columns: Vec<Value>,
            #[serde(default)]
            rows: Vec<Vec<Value>>,
        }
        let raw: Raw = serde_json::from_str(data).map_err(|e| FormatError {
            mime: TABLE_MIME,
            message: e.to_string(),
        })?;
        Ok(Table {
            columns: raw.columns.iter().map(scalar_text).collect(),
            rows: raw
                .rows
                .iter()
                .map(|row| row.iter().map(scalar_text).collect())
                .collect(),
        })
    }
}

impl TimeSeries {
    pub fn parse(data: &str) -> Result<TimeSeries, FormatError> {
        #[derive(Deserialize)]
        struct Raw {
            series: Vec<RawSeries>,
        }
        #[derive(Deserialize)]
        struct RawSeries {
            #[serde(default)]
            labels: Option<serde_json::Map<String, Value>>,
            #[serde(default)]
            points: Vec<(Number, Number)>,
        }
        let raw: Raw = serde_json::from_str(data).map_err(|e| FormatError {
            mime: TIMESERIES_MIME,
            message: e.to_string(),
        })?;
        let mut series = Vec::with_capacity(raw.series.len());
        for s in raw.series {
            let labels = s
                .labels
                .unwrap_or_default()
                .iter()
                .map(|(k, v)| (k.clone(), scalar_text(v)))
                .collect();
            let mut points = Vec::with_capacity(s.points.len());
            for (t, v) in s.points {
                let Some(t) = t.0.filter(|t| t.is_finite()) else {
                    return Err(FormatError {
                        mime: TIMESERIES_MIME,
                        message: "a point's time must be a number of seconds".into(),
                    });
                };
                points.push(Point {
                    t,
                    v: v.0.filter(|v| v.is_finite()),
                });
            }
            series.push(Series { labels, points });
        }
        Ok(TimeSeries { series })
    }
}

impl Series {
    /// The labels as `{k="v",...}`, values quoted as JSON strings so that
    /// any character in them stays inside the quotes.
    pub fn label_text(&self) -> String {
        let pairs: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{}={}", label_key(k), serde_json::Value::from(v.as_str())))
            .collect();
        format!("{{{}}}", pairs.join(","))
    }

    /// The values, gaps left out.
    pub fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.points.iter().filter_map(|p| p.v)
    }

    /// Min, max and last of the values; `None` when there are none.
    pub fn stats(&self) -> Option<Stats> {
        let mut stats: Option<Stats> = None;
        for v in self.values() {
            let s = stats.get_or_insert(Stats {
                min: v,
                max: v,
                last: v,
                values: 0,
            });
            s.min = s.min.min(v);
            s.max = s.max.max(v);
            s.last = v;
            s.values += 1;
        }
        stats
    }
}

/// A label key as it is shown: as it is when it is a plain name, quoted as
/// a JSON string otherwise (a key is the plugin's text too).
fn label_key(key: &str) -> String {
    let plain = key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if plain && !key.is_empty() {
        key.to_owned()
    } else {
        serde_json::Value::from(key).to_string()
    }
}

/// A number written as a JSON number or as a string holding one, as
/// Prometheus writes sample values; `None` for `null` or a string such as
/// `"NaN"` that holds no finite number.
struct Number(Option<f64>);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => Ok(Number(n.as_f64())),
            Value::String(s) => match s.trim().parse::<f64>() {
                Ok(v) => Ok(Number(Some(v))),
                Err(_) => Err(serde::de::Error::custom(format!("{s:?} is not a number"))),
            },
            Value::Null => Ok(Number(None)),
            other => Err(serde::de::Error::custom(format!("{other} is not a number"))),
        }
    }
}

/// A cell or label value as text.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
