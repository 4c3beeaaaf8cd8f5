//! Typed command-line values, parsed once by clap: sizes, durations and
//! signals. A value that does not parse is a [`BadValue`]; the dispatcher
//! reports it as `myrt: <op> <id>: error: <flag>: <cause>` with status 1,
//! as it does any other failure of the command.

use std::time::Duration;

/// Why a command-line value did not parse (the cause part of the error line).
#[derive(Debug)]
pub struct BadValue(pub String);

impl std::fmt::Display for BadValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadValue {}

/// A size for `update --memory` etc.: bytes, or with a `k`/`m`/`g`/`t`
/// (`kb`, ...) suffix, or -1 (unlimited). A value that does not fit in 64
/// bits is an error, never a silent wrap.
pub fn size(s: &str) -> Result<i64, BadValue> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let digits = t.trim_end_matches('b');
    let (num, mult) = match digits.as_bytes().last() {
        Some(b'k') => (&digits[..digits.len() - 1], 1i64 << 10),
        Some(b'm') => (&digits[..digits.len() - 1], 1 << 20),
        Some(b'g') => (&digits[..digits.len() - 1], 1 << 30),
        Some(b't') => (&digits[..digits.len() - 1], 1 << 40),
        _ => (digits, 1),
    };
    if num.is_empty() || !num.bytes().all(|c| c.is_ascii_digit()) {
        return Err(BadValue(format!(
            "{s:?} is not a size (bytes, or a number with k, m, g or t; -1 for unlimited)"
        )));
    }
    num.parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| BadValue(format!("{s:?} is too large (at most {} bytes)", i64::MAX)))
}

/// `events --interval`: a duration such as `5s`, `500ms`, `1m`, `1h` (a bare
/// number is seconds), finite, from 1 ms to a day.
pub fn interval(s: &str) -> Result<Duration, BadValue> {
    let not_a_duration = || BadValue(format!("{s:?} is not a duration (e.g. 5s, 500ms, 1m)"));
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(not_a_duration()),
    };
    let secs = num
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .map(|n| n * scale)
        .ok_or_else(not_a_duration)?;
    if !(0.001..=86400.0).contains(&secs) {
        return Err(BadValue(format!("{s:?} is out of range (1ms to 24h)")));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A signal for `kill`: `9`, `KILL`, `SIGKILL`, `kill`, `RTMIN+3`.
pub fn signal(s: &str) -> Result<i32, BadValue> {
    myrt::container::parse_signal(s).map_err(|e| BadValue(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size("-1").unwrap(), -1);
        assert_eq!(size("4096").unwrap(), 4096);
        assert_eq!(size("64m").unwrap(), 64 << 20);
        assert_eq!(size("64MB").unwrap(), 64 << 20);
        assert_eq!(size("2g").unwrap(), 2 << 30);
        assert_eq!(size("1t").unwrap(), 1 << 40);
        for bad in [
            "",
            "g",
            "12x",
            "-5m",
            "99999999999999999g",
            "9223372036854775807k",
        ] {
            assert!(size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn intervals() {
        assert_eq!(interval("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(interval("7").unwrap(), Duration::from_secs(7));
        assert_eq!(interval("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(interval("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(interval("1.5h").unwrap(), Duration::from_secs(5400));
        for bad in ["infs", "nan", "-1s", "1e400s", "0s", "25h", "5 parsecs", ""] {
            assert!(interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signals() {
        assert_eq!(signal("9").unwrap(), libc::SIGKILL);
        assert_eq!(signal("term").unwrap(), libc::SIGTERM);
        assert_eq!(signal("SIGHUP").unwrap(), libc::SIGHUP);
        let e = signal("RTMIN+100").unwrap_err();
        assert_eq!(e.to_string(), "invalid signal \"RTMIN+100\"");
    }
}
