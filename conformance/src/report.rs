//! RESULTS.md: one table, a row per case and a column per runtime, merged with what the file
//! already holds so that runtimes run separately (e.g. crun under --v1-view) end up side by side.

use crate::case::{CaseResult, Level};
use std::collections::BTreeMap;

/// Column order for known runtimes; others follow alphabetically.
const KNOWN: [&str; 4] = ["dm-runc", "runc", "crun", "youki"];

/// One runtime's column: how it was run and its cell per case id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Column {
    /// Version, date, kernel and mode of the run, as one line of text.
    pub about: String,
    /// `pass`, `FAIL` or `skip` by case id.
    pub cells: BTreeMap<String, String>,
}

/// The whole table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Case ids in row order, with level and section.
    pub rows: Vec<(String, String, String)>,
    /// Columns by runtime name.
    pub columns: BTreeMap<String, Column>,
    /// Figures measured by other means (opencontainers/runtime-tools), kept as written between
    /// [`EXTERNAL_START`] and [`EXTERNAL_END`].
    pub external: String,
}

/// Opens the hand-written section a rerun keeps.
pub const EXTERNAL_START: &str = "<!-- external figures: kept by --report -->";
/// Closes it.
pub const EXTERNAL_END: &str = "<!-- /external figures -->";

impl Report {
    /// Puts a run's results in `runtime`'s column (replacing what it held), adding new rows.
    pub fn merge(&mut self, runtime: &str, about: String, results: &[CaseResult]) {
        let mut col = Column {
            about,
            cells: BTreeMap::new(),
        };
        let mut order: Vec<(String, String, String)> = Vec::new();
        for r in results {
            let level = match r.case.level {
                Level::Must => "MUST",
                Level::Should => "SHOULD",
            };
            order.push((r.case.id.clone(), level.into(), r.case.section.into()));
            col.cells.insert(r.case.id.clone(), r.outcome.word().into());
        }
        // This run's order leads; rows only older runs had keep their place at the end.
        let old: Vec<_> = self
            .rows
            .drain(..)
            .filter(|(id, ..)| !col.cells.contains_key(id))
            .collect();
        self.rows = order;
        self.rows.extend(old);
        self.columns.insert(runtime.into(), col);
        let cols = &self.columns;
        self.rows
            .retain(|(id, ..)| cols.values().any(|c| c.cells.contains_key(id)));
    }

    fn names(&self) -> Vec<&String> {
        let mut n: Vec<&String> = self.columns.keys().collect();
        n.sort_by_key(|k| {
            (
                KNOWN.iter().position(|x| x == k).unwrap_or(KNOWN.len()),
                (*k).clone(),
            )
        });
        n
    }

    /// The markdown text.
    pub fn render(&self, date: &str, kernel: &str) -> String {
        let names = self.names();
        let mut s = String::from("# OCI runtime-spec conformance results\n\n");
        s.push_str("Written by `dm-conformance --report` (conformance/); do not edit by hand.\n\n");
        s.push_str(&format!("- Date: {date}\n- Kernel: {kernel}\n"));
        for n in &names {
            s.push_str(&format!("- Runtime `{n}`: {}\n", self.columns[*n].about));
        }
        s.push_str("\n| runtime | passed | failed | skipped |\n|---|---|---|---|\n");
        for n in &names {
            let count = |w: &str| self.columns[*n].cells.values().filter(|c| *c == w).count();
            s.push_str(&format!(
                "| {n} | {} | {} | {} |\n",
                count("pass"),
                count("FAIL"),
                count("skip")
            ));
        }
        if !self.external.is_empty() {
            s.push_str(&format!(
                "\n{EXTERNAL_START}\n{}\n{EXTERNAL_END}\n",
                self.external
            ));
        }
        s.push_str("\n| case | level | section |");
        for n in &names {
            s.push_str(&format!(" {n} |"));
        }
        s.push_str("\n|---|---|---|");
        s.push_str(&"---|".repeat(names.len()));
        s.push('\n');
        for (id, level, section) in &self.rows {
            s.push_str(&format!("| `{id}` | {level} | {section} |"));
            for n in &names {
                s.push_str(&format!(
                    " {} |",
                    self.columns[*n]
                        .cells
                        .get(id)
                        .map(String::as_str)
                        .unwrap_or("—")
                ));
            }
            s.push('\n');
        }
        s
    }

    /// Reads back a file written by [`Report::render`]; anything else gives an empty report.
    pub fn parse(text: &str) -> Report {
        let mut rep = Report::default();
        if let Some((_, rest)) = text.split_once(EXTERNAL_START) {
            if let Some((kept, _)) = rest.split_once(EXTERNAL_END) {
                rep.external = kept.trim_matches('\n').to_owned();
            }
        }
        let mut abouts = BTreeMap::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("- Runtime `") {
                if let Some((name, about)) = rest.split_once("`: ") {
                    abouts.insert(name.to_owned(), about.to_owned());
                }
            }
        }
        let mut names: Vec<String> = Vec::new();
        for l in text.lines() {
            let cells: Vec<&str> = l
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            if cells.len() > 3 && cells[0] == "case" && cells[1] == "level" {
                names = cells[3..].iter().map(|s| s.to_string()).collect();
                for n in &names {
                    rep.columns.insert(
                        n.clone(),
                        Column {
                            about: abouts.get(n).cloned().unwrap_or_default(),
                            cells: BTreeMap::new(),
                        },
                    );
                }
                continue;
            }
            if names.is_empty() || cells.len() != 3 + names.len() || !cells[0].starts_with('`') {
                continue;
            }
            let id = cells[0].trim_matches('`').to_owned();
            rep.rows
                .push((id.clone(), cells[1].into(), cells[2].into()));
            for (n, v) in names.iter().zip(&cells[3..]) {
                if *v != "—" {
                    rep.columns
                        .get_mut(n)
                        .expect("column made from the header")
                        .cells
                        .insert(id.clone(), v.to_string());
                }
            }
        }
        rep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{Case, Outcome};

    fn r(id: &str, o: Outcome) -> CaseResult {
        CaseResult {
            case: Case::new(id, "config.md#process", Level::Must, "x"),
            outcome: o,
        }
    }

    #[test]
    fn merging_runs_keeps_other_runtimes_and_orders_known_columns() {
        let mut rep = Report::default();
        rep.merge(
            "crun",
            "crun 1.8.1, v1 view".into(),
            &[r("a/x", Outcome::Pass), r("a/old", Outcome::Pass)],
        );
        let text = rep.render("2026-11-26", "6.18");
        let mut back = Report::parse(&text);
        assert_eq!(back, rep);
        back.merge(
            "runc",
            "runc 1.1.5".into(),
            &[
                r("a/x", Outcome::Fail("e".into())),
                r("a/y", Outcome::Skip("s".into())),
            ],
        );
        let text = back.render("2026-11-26", "6.18");
        assert!(
            text.contains("| case | level | section | runc | crun |"),
            "{text}"
        );
        assert!(
            text.contains("| `a/x` | MUST | config.md#process | FAIL | pass |"),
            "{text}"
        );
        assert!(
            text.contains("| `a/y` | MUST | config.md#process | skip | — |"),
            "{text}"
        );
        assert!(
            text.contains("| `a/old` | MUST | config.md#process | — | pass |"),
            "{text}"
        );
        assert!(text.contains("| runc | 0 | 1 | 1 |"), "{text}");
        assert!(
            text.contains("- Runtime `crun`: crun 1.8.1, v1 view"),
            "{text}"
        );
        // A rerun of one runtime replaces only its column and keeps the external figures.
        let with_external = text.replacen(
            "\n| case |",
            &format!("\n{EXTERNAL_START}\nfigures | 1\n{EXTERNAL_END}\n\n| case |"),
            1,
        );
        let mut again = Report::parse(&with_external);
        assert_eq!(again.external, "figures | 1");
        again.merge("runc", "runc 1.1.5".into(), &[r("a/x", Outcome::Pass)]);
        let text = again.render("d", "k");
        assert!(
            text.contains("| `a/x` | MUST | config.md#process | pass | pass |"),
            "{text}"
        );
        assert!(
            !text.contains("a/y"),
            "rows no runtime has are dropped: {text}"
        );
        assert!(
            text.contains(&format!("{EXTERNAL_START}\nfigures | 1\n{EXTERNAL_END}")),
            "{text}"
        );
    }
}
