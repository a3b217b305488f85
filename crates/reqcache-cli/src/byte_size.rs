//! [`ByteSize`]: a size in bytes as operators write it (`512MiB`, `10GiB`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A size in bytes, written with a unit as nginx and Varnish take them:
/// `512MiB`, `10GiB`, `64k`, `1g`, or a plain number of bytes. `K`, `M`,
/// `G`, `T` (any case, with or without `iB`) are powers of 1024; `KB`,
/// `MB`, `GB`, `TB` are powers of 1000. Shown in the largest binary unit
/// that divides it (`16MiB`, `1536KiB`).
///
/// # Example
/// ```
/// use reqcache_cli::byte_size::ByteSize;
///
/// assert_eq!("512MiB".parse::<ByteSize>().unwrap().bytes(), 512 << 20);
/// assert_eq!("10g".parse::<ByteSize>().unwrap().bytes(), 10 << 30);
/// assert_eq!("2MB".parse::<ByteSize>().unwrap().bytes(), 2_000_000);
/// assert_eq!(ByteSize::new(1536 * 1024).to_string(), "1536KiB");
/// assert!("ten".parse::<ByteSize>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(u64);

impl ByteSize {
    /// `bytes` bytes.
    pub const fn new(bytes: u64) -> Self {
        Self(bytes)
    }

    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let unit = unit.trim().to_ascii_lowercase();
        let multiplier: u64 = match unit.as_str() {
            "" | "b" => 1,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "t" | "tib" => 1 << 40,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "tb" => 1_000_000_000_000,
            _ => return Err(invalid(text)),
        };
        let bytes = if let Ok(whole) = number.parse::<u64>() {
            whole.checked_mul(multiplier)
        } else {
            // `1.5GiB`: a fraction of the unit, to the byte.
            number
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .map(|n| n * multiplier as f64)
                .filter(|b| *b < u64::MAX as f64)
                .map(|b| b.round() as u64)
        };
        bytes.map(Self).ok_or_else(|| invalid(text))
    }
}

fn invalid(text: &str) -> String {
    format!("{text:?} is not a size: write bytes, or a number and a unit (512MiB, 10GiB, 64k)")
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if self.0 != 0 && self.0.is_multiple_of(1u64 << shift) {
                return write!(f, "{}{unit}", self.0 >> shift);
            }
        }
        write!(f, "{}", self.0)
    }
}

/// Written as its [`Display`](fmt::Display) form (`"16MiB"`).
impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Read from a string with a unit or from a number of bytes.
impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Bytes(u64),
            Text(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Bytes(bytes) => Ok(Self(bytes)),
            Written::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_and_show() {
        for (text, bytes) in [
            ("0", 0),
            ("4096", 4096),
            ("16MiB", 16 << 20),
            ("16 MiB", 16 << 20),
            ("16m", 16 << 20),
            ("16M", 16 << 20),
            ("1.5GiB", 3 << 29),
            ("10GiB", 10 << 30),
            ("2TiB", 2 << 40),
            ("1kb", 1000),
            ("5GB", 5_000_000_000),
        ] {
            assert_eq!(text.parse::<ByteSize>().unwrap().bytes(), bytes, "{text}");
        }
        for bad in ["", "MiB", "-1", "1.2.3", "16XB", "99999999999TiB"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
        }
        assert_eq!(ByteSize::new(16 << 20).to_string(), "16MiB");
        assert_eq!(ByteSize::new(1 << 30).to_string(), "1GiB");
        assert_eq!(ByteSize::new(1000).to_string(), "1000");
        assert_eq!(ByteSize::new(0).to_string(), "0");
    }

    #[test]
    fn serde_takes_text_or_a_number() {
        #[derive(Deserialize, Serialize)]
        struct Config {
            size: ByteSize,
        }
        let text: Config = toml::from_str("size = \"512MiB\"").unwrap();
        assert_eq!(text.size.bytes(), 512 << 20);
        let number: Config = toml::from_str("size = 4096").unwrap();
        assert_eq!(number.size.bytes(), 4096);
        assert_eq!(toml::to_string(&text).unwrap(), "size = \"512MiB\"\n");
        assert!(toml::from_str::<Config>("size = \"lots\"").is_err());
    }
}
