//! Error lines: on stderr always, and in the `--log` file when one is given
//! (runc's logrus shapes: `time=".." level=error msg=".."`, or one JSON
//! object per line with `--log-format json`, which containerd's shim and
//! podman read). The time is `sys::rfc3339_now`, a short helper with a unit
//! test: the humantime crate would replace it for 1.3 KiB more binary and
//! no gain in RSS (conformance/bench A/B).

use std::io::Write;
use std::path::Path;

pub struct Logger {
    file: Option<std::fs::File>,
    json: bool,
}

impl Logger {
    /// A log that cannot be opened is no log: the error still reaches stderr.
    pub fn open(path: Option<&Path>, format: &str) -> Logger {
        let file = path.and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        });
        Logger {
            file,
            json: format == "json",
        }
    }

    /// `what` is `<operation> <id>` (or `<operation>`). On stderr the line
    /// says it is an error, as runc's `level=error` does (scripts grep for
    /// the word): `myrt: <operation> <id>: error: <cause>`. The log file
    /// keeps the message without the word: its level field carries it.
    pub fn error(&mut self, what: &str, cause: &str) {
        let _ = writeln!(std::io::stderr(), "myrt: {what}: error: {cause}");
        if let Some(f) = &mut self.file {
            let line = log_line(
                self.json,
                &myrt::sys::rfc3339_now(),
                &format!("{what}: {cause}"),
            );
            let _ = writeln!(f, "{line}");
        }
    }
}

/// One line of the log file for an error `msg` at `time`.
fn log_line(json: bool, time: &str, msg: &str) -> String {
    if json {
        serde_json::json!({"level": "error", "msg": msg, "time": time}).to_string()
    } else {
        format!("time=\"{time}\" level=error msg={msg:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::log_line;

    #[test]
    fn json_and_text_lines() {
        let t = "2026-01-02T03:04:05.000000006Z";
        assert_eq!(
            log_line(true, t, "state x: \"gone\""),
            r#"{"level":"error","msg":"state x: \"gone\"","time":"2026-01-02T03:04:05.000000006Z"}"#
        );
        assert_eq!(
            log_line(false, t, "state x: \"gone\""),
            r#"time="2026-01-02T03:04:05.000000006Z" level=error msg="state x: \"gone\"""#
        );
    }
}
