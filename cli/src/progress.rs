//! Renders docker's JSON progress messages (pull, push, build): one line per layer id,
//! rewritten in place on a terminal, status changes only otherwise.

use serde_json::Value;
use std::io::Write;

/// A progress display on `out`.
pub struct Progress<W: Write> {
    out: W,
    tty: bool,
    /// Layer ids in the order their lines were printed (`None`: a line without an id).
    lines: Vec<Option<String>>,
}

impl<W: Write> Progress<W> {
    /// A display writing to `out`; `tty` enables in-place updates.
    pub fn new(out: W, tty: bool) -> Progress<W> {
        Progress {
            out,
            tty,
            lines: vec![],
        }
    }

    /// Shows one message.
    pub fn show(&mut self, m: &Value) -> std::io::Result<()> {
        if let Some(s) = m.get("stream").and_then(Value::as_str) {
            return self.out.write_all(s.as_bytes());
        }
        let status = m.get("status").and_then(Value::as_str).unwrap_or_default();
        if status.is_empty() {
            return Ok(());
        }
        let id = m
            .get("id")
            .and_then(Value::as_str)
            .filter(|i| !i.is_empty());
        let bar = m
            .get("progress")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let text = match id {
            Some(i) => format!("{i}: {status} {bar}"),
            None => format!("{status} {bar}"),
        };
        let text = text.trim_end();
        if !self.tty {
            // Without a terminal, bars would be noise: only lines without one.
            if bar.is_empty() {
                writeln!(self.out, "{text}")?;
            }
            return Ok(());
        }
        let at = id.and_then(|i| self.lines.iter().position(|l| l.as_deref() == Some(i)));
        match at {
            Some(idx) => {
                let up = self.lines.len() - idx;
                write!(self.out, "\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")?;
            }
            None => {
                writeln!(self.out, "{text}")?;
                self.lines.push(id.map(str::to_owned));
            }
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn without_a_terminal_only_status_lines_are_printed() {
        let mut v = vec![];
        let mut p = Progress::new(&mut v, false);
        p.show(&json!({"status": "Pulling from busybox", "id": "latest"}))
            .unwrap();
        p.show(&json!({"status": "Downloading", "id": "abc", "progress": "[=>  ]"}))
            .unwrap();
        p.show(&json!({"status": "Pull complete", "id": "abc"}))
            .unwrap();
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "latest: Pulling from busybox\nabc: Pull complete\n"
        );
    }

    #[test]
    fn on_a_terminal_a_layer_line_is_rewritten_in_place() {
        let mut v = vec![];
        let mut p = Progress::new(&mut v, true);
        p.show(&json!({"status": "Waiting", "id": "a"})).unwrap();
        p.show(&json!({"status": "Waiting", "id": "b"})).unwrap();
        p.show(&json!({"status": "Done", "id": "a"})).unwrap();
        let s = String::from_utf8(v).unwrap();
        assert!(s.ends_with("\x1b[2A\r\x1b[2Ka: Done\x1b[2B\r"), "{s:?}");
    }
}
