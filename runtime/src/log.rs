//! runc-compatible logging: `--log FILE`, `--log-format text|json`, `--debug`.
//!
//! Shims read the last JSON line of the log file for the error message, so the line shape
//! (`{"level":…,"msg":…,"time":…}`) and the text shape (`time="…" level=… msg="…"`) match runc's.

use std::io::Write;
use std::sync::OnceLock;

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `time="…" level=… msg="…"`
    Text,
    /// `{"level":"…","msg":"…","time":"…"}`
    Json,
}

struct Logger {
    file: Option<std::fs::File>,
    format: Format,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets up logging once per process; without a file, lines go to stderr.
pub fn init(path: Option<&std::path::Path>, format: Format, debug: bool) -> std::io::Result<()> {
    let file = match path {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ),
        None => None,
    };
    let _ = LOGGER.set(Logger {
        file,
        format,
        debug,
    });
    Ok(())
}

/// True when a log file was given (errors then also go to stderr as a bare message, as runc).
pub fn has_file() -> bool {
    LOGGER.get().is_some_and(|l| l.file.is_some())
}

/// Writes one line at `level`.
pub fn log(level: &str, msg: &str) {
    let Some(l) = LOGGER.get() else {
        eprintln!("{msg}");
        return;
    };
    if level == "debug" && !l.debug {
        return;
    }
    let time = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let line = match l.format {
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Line<'a> {
                level: &'a str,
                msg: &'a str,
                time: &'a str,
            }
            let mut s = serde_json::to_string(&Line {
                level,
                msg,
                time: &time,
            })
            .unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Text => format!(
            "time=\"{time}\" level={level} msg={}\n",
            serde_json::to_string(msg).unwrap_or_default()
        ),
    };
    match &l.file {
        Some(f) => {
            let _ = (&*f).write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Logs at error level.
pub fn error(msg: &str) {
    log("error", msg);
}

/// Logs at warning level.
pub fn warn(msg: &str) {
    log("warning", msg);
}

/// Logs at debug level (only with `--debug`).
pub fn debug(msg: &str) {
    log("debug", msg);
}
