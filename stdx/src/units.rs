//! Durations (`500ms`, `10s`, `2m`) and sizes (`64MiB`) as written in
//! `config.toml` and cell headers, parsed strictly and shown the same way.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A time limit, written `500ms`, `10s`, `2m` or `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeout(pub Duration);

impl FromStr for Timeout {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("invalid duration {text:?} (write it like 500ms, 10s, 2m or 1h)");
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().map_err(|_| bad())?;
        let duration = match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.checked_mul(60).ok_or_else(bad)?),
            "h" => Duration::from_secs(number.checked_mul(3600).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        if duration.is_zero() {
            return Err(format!(
                "invalid duration {text:?}: it must be more than zero"
            ));
        }
        Ok(Timeout(duration))
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        match ms {
            _ if ms.is_multiple_of(3_600_000) => write!(f, "{}h", ms / 3_600_000),
            _ if ms.is_multiple_of(60_000) => write!(f, "{}m", ms / 60_000),
            _ if ms.is_multiple_of(1000) => write!(f, "{}s", ms / 1000),
            _ => write!(f, "{ms}ms"),
        }
    }
}

/// A number of bytes, written `512KiB`, `64MiB`, `1GiB` or `4096B` (`KB`,
/// `MB`, `GB` are read as the binary units too, as people mean them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("invalid size {text:?} (write it like 512KiB, 64MiB or 1GiB)");
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().map_err(|_| bad())?;
        let shift = match unit {
            "B" => 0,
            "KiB" | "KB" | "K" => 10,
            "MiB" | "MB" | "M" => 20,
            "GiB" | "GB" | "G" => 30,
            _ => return Err(bad()),
        };
        let bytes = number.checked_mul(1 << shift).ok_or_else(bad)?;
        if bytes == 0 {
            return Err(format!("invalid size {text:?}: it must be more than zero"));
        }
        Ok(ByteSize(bytes))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
        for (size, unit) in UNITS {
            if self.0 >= size {
                let whole = self.0 / size;
                let tenths = (self.0 % size) * 10 / size;
                return if tenths == 0 {
                    write!(f, "{whole} {unit}")
                } else {
                    write!(f, "{whole}.{tenths} {unit}")
                };
            }
        }
        write!(f, "{} B", self.0)
    }
}

/// Lets `Timeout` and `ByteSize` be read straight from TOML strings, with the
/// parse error reported at the value.
macro_rules! deserialize_from_str {
    ($type:ty) => {
        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
deserialize_from_str!(Timeout);
deserialize_from_str!(ByteSize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_back() {
        for text in ["500ms", "10s", "2m", "1h", "1500ms"] {
            assert_eq!(text.parse::<Timeout>().unwrap().to_string(), text);
        }
        assert_eq!("90s".parse::<Timeout>().unwrap().0, Duration::from_secs(90));
    }

    #[test]
    fn malformed_durations_are_refused() {
        for text in ["", "10", "s", "10 s", "1.5s", "10sec", "-1s", "0s"] {
            assert!(text.parse::<Timeout>().is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!("64MiB".parse::<ByteSize>().unwrap().0, 64 << 20);
        assert_eq!("1GiB".parse::<ByteSize>().unwrap().to_string(), "1 GiB");
        assert_eq!(ByteSize(1536 << 10).to_string(), "1.5 MiB");
        assert_eq!(ByteSize(100).to_string(), "100 B");
        for text in ["", "64", "64 MiB", "MiB", "1.5MiB", "0B", "64mib"] {
            assert!(text.parse::<ByteSize>().is_err(), "{text:?} was accepted");
        }
    }
}
