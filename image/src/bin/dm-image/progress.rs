//! Pull and push progress: per-blob bars on a terminal, plain lines otherwise, or JSON lines.

use dm_image::progress::Digest;
use dm_image::{Event, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

/// Where progress goes: JSON lines, bars on a terminal, else plain lines; all on stdout.
pub fn progress(json: bool) -> Progress {
    if json {
        Progress::new(|e| println!("{}", e.to_json()))
    } else if std::io::stdout().is_terminal() {
        let bars = Bars {
            multi: MultiProgress::new(),
            bars: Mutex::default(),
        };
        Progress::new(move |e| bars.show(e))
    } else {
        Progress::new(print_event)
    }
}

/// The first 12 hex digits, as docker shows layer ids.
fn short(d: &Digest) -> String {
    let hex = d.hex();
    hex[..12.min(hex.len())].to_owned()
}

/// One bar per blob.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<Digest, ProgressBar>>,
}

impl Bars {
    fn bar(&self, d: &Digest, total: u64) -> ProgressBar {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        let make = || {
            let style = ProgressStyle::with_template(
                "{prefix} {msg:<18} [{bar:30}] {bytes:>10}/{total_bytes:<10}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            let pb = self.multi.add(ProgressBar::new(total).with_style(style));
            pb.set_prefix(short(d));
            pb
        };
        bars.entry(d.clone()).or_insert_with(make).clone()
    }

    fn show(&self, e: &Event) {
        let step = |d: &Digest, offset: u64, total: u64, msg: &'static str| {
            let b = self.bar(d, total);
            b.set_length(total);
            b.set_position(offset);
            b.set_message(msg);
        };
        match e {
            Event::Resolved { reference, digest } => {
                let _ = self
                    .multi
                    .println(format!("{reference}: resolved to {digest}"));
            }
            Event::Exists { digest } => self.bar(digest, 0).finish_with_message("already exists"),
            Event::Downloading {
                digest,
                offset,
                total,
            } => step(digest, *offset, *total, "downloading"),
            Event::Done { digest, size } => step(digest, *size, *size, "verified"),
            Event::Uploading {
                digest,
                offset,
                total,
            } => step(digest, *offset, *total, "uploading"),
            Event::Uploaded { digest, size } => {
                step(digest, *size, *size, "pushed");
                self.bar(digest, *size).finish();
            }
            Event::Mounted { digest } => self.bar(digest, 0).finish_with_message("mounted"),
            Event::Unpacked { digest, applied } => {
                let msg = if *applied {
                    "unpacked"
                } else {
                    "already unpacked"
                };
                self.bar(digest, 0).finish_with_message(msg);
            }
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        let bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        for b in bars.values().filter(|b| !b.is_finished()) {
            b.finish();
        }
    }
}

/// Plain progress lines, one per step of each blob.
fn print_event(e: &Event) {
    match e {
        Event::Resolved { reference, digest } => println!("{reference}: resolved to {digest}"),
        Event::Exists { digest } => println!("{}: already exists", short(digest)),
        Event::Downloading {
            digest,
            offset: 0,
            total,
        } => {
            println!("{}: downloading {total} bytes", short(digest))
        }
        Event::Downloading { .. } => {}
        Event::Done { digest, size } => {
            println!("{}: downloaded {size} bytes, verified", short(digest))
        }
        Event::Uploading {
            digest,
            offset: 0,
            total,
        } => println!("{}: uploading {total} bytes", short(digest)),
        Event::Uploading { .. } => {}
        Event::Uploaded { digest, size } => println!("{}: uploaded {size} bytes", short(digest)),
        Event::Mounted { digest } => {
            println!("{}: mounted from the source repository", short(digest))
        }
        Event::Unpacked {
            digest,
            applied: true,
        } => println!("{}: unpacked", short(digest)),
        Event::Unpacked {
            digest,
            applied: false,
        } => println!("{}: already unpacked", short(digest)),
    }
}
