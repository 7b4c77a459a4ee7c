//! Firewall rules through the `iptables` command, in chains of our own.
//!
//! `iptables` is Debian's nf_tables-backed build where the host runs nftables (and the legacy
//! one elsewhere), so one code path serves both. Every rule we add is recorded, and deletion is
//! idempotent, so a rule is removed exactly by replaying its record with `-D`.

use std::io::Write;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Our chain in `filter`, jumped to from FORWARD.
pub const FORWARD: &str = "DM-FORWARD";
/// First isolation stage: traffic leaving a network's bridge for another interface.
pub const ISOLATION1: &str = "DM-ISOLATION-1";
/// Second isolation stage: dropped when it enters another network's bridge.
pub const ISOLATION2: &str = "DM-ISOLATION-2";
/// Our chain in `nat` for traffic arriving for a local address.
pub const PREROUTING: &str = "DM-PREROUTING";
/// Our chain in `nat` for locally made traffic to a local address.
pub const OUTPUT: &str = "DM-OUTPUT";
/// Our chain in `nat` for masquerading.
pub const POSTROUTING: &str = "DM-POSTROUTING";

/// One iptables rule: `iptables -t <table> -A|-I <chain> <args>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rule {
    /// `filter` or `nat`.
    pub table: String,
    /// The chain it lives in.
    pub chain: String,
    /// Match and target arguments.
    pub args: Vec<String>,
    /// Inserted first in the chain rather than appended.
    #[serde(default)]
    pub insert: bool,
}

impl Rule {
    /// An appended rule.
    pub fn new(table: &str, chain: &str, args: &[&str]) -> Rule {
        Rule {
            table: table.into(),
            chain: chain.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            insert: false,
        }
    }

    fn inserted(mut self) -> Rule {
        self.insert = true;
        self
    }
}

fn run(args: &[&str]) -> std::result::Result<(), String> {
    let out = Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run iptables: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn rule_cmd<'a>(r: &'a Rule, op: &'a str) -> Vec<&'a str> {
    let mut v = vec!["-t", r.table.as_str(), op, r.chain.as_str()];
    v.extend(r.args.iter().map(String::as_str));
    v
}

fn fail(args: &[&str], stderr: String) -> Error {
    Error::Firewall {
        cmd: format!("iptables {}", args.join(" ")),
        stderr,
    }
}

/// Adds `r` unless an identical rule is already there.
pub(crate) fn add(r: &Rule) -> Result<()> {
    if run(&rule_cmd(r, "-C")).is_ok() {
        return Ok(());
    }
    let args = rule_cmd(r, if r.insert { "-I" } else { "-A" });
    run(&args).map_err(|e| fail(&args, e))
}

/// Deletes `r`; a rule (or chain) already gone is not an error.
pub(crate) fn del(r: &Rule) -> Result<()> {
    while run(&rule_cmd(r, "-C")).is_ok() {
        let args = rule_cmd(r, "-D");
        run(&args).map_err(|e| fail(&args, e))?;
    }
    Ok(())
}

/// Adds every rule, removing those already added when one fails.
pub(crate) fn add_all(rules: &[Rule]) -> Result<()> {
    for (i, r) in rules.iter().enumerate() {
        if let Err(e) = add(r) {
            del_all(&rules[..i]);
            return Err(e);
        }
    }
    Ok(())
}

/// Adds rules known to be absent (they name a bridge or port recorded only now) in one
/// `iptables-restore --noflush` run: one process instead of two per rule, and all or nothing.
pub(crate) fn add_fresh(rules: &[Rule]) -> Result<()> {
    restore(
        rules
            .iter()
            .map(|r| (if r.insert { "-I" } else { "-A" }, r)),
    )
}

fn restore<'a>(ops: impl Iterator<Item = (&'static str, &'a Rule)> + Clone) -> Result<()> {
    let mut script = String::new();
    for table in ["filter", "nat"] {
        let mine: Vec<_> = ops.clone().filter(|(_, r)| r.table == table).collect();
        if mine.is_empty() {
            continue;
        }
        script.push_str(&format!("*{table}\n"));
        for (op, r) in mine {
            script.push_str(&format!("{op} {} {}\n", r.chain, r.args.join(" ")));
        }
        script.push_str("COMMIT\n");
    }
    if script.is_empty() {
        return Ok(());
    }
    let fail = |stderr: String| Error::Firewall {
        cmd: format!("iptables-restore --noflush <<< {script:?}"),
        stderr,
    };
    let mut child = Command::new("iptables-restore")
        .args(["-w", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run iptables-restore: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let written = stdin.write_all(script.as_bytes());
    drop(stdin);
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    written.map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// Deletes every rule, in reverse order, carrying on past failures (cleanup must go as far as
/// it can); the first error is returned.
pub(crate) fn del_all(rules: &[Rule]) -> Option<Error> {
    // The usual case, every rule present, in one process; a batch is all or nothing, so when
    // one rule is already gone (a crash, a hand edit) the rules go one by one instead.
    if restore(rules.iter().rev().map(|r| ("-D", r))).is_ok() {
        return None;
    }
    let mut first = None;
    for r in rules.iter().rev() {
        if let Err(e) = del(r) {
            first.get_or_insert(e);
        }
    }
    first
}

fn chains() -> [(&'static str, &'static str); 6] {
    [
        ("filter", FORWARD),
        ("filter", ISOLATION1),
        ("filter", ISOLATION2),
        ("nat", PREROUTING),
        ("nat", OUTPUT),
        ("nat", POSTROUTING),
    ]
}

/// Creates our chains and the jumps into them; returns the jumps for the host record.
pub(crate) fn install_base() -> Result<Vec<Rule>> {
    for (t, c) in chains() {
        if run(&["-t", t, "-n", "-L", c]).is_err() {
            let args = ["-t", t, "-N", c];
            run(&args).map_err(|e| fail(&args, e))?;
        }
    }
    let local = ["-m", "addrtype", "--dst-type", "LOCAL"];
    let jump = |chain: &'static str| [&local[..], &["-j", chain]].concat();
    let rules = vec![
        Rule::new("filter", FORWARD, &["-j", ISOLATION1]).inserted(),
        Rule::new("filter", "FORWARD", &["-j", FORWARD]).inserted(),
        Rule::new("nat", "PREROUTING", &jump(PREROUTING)).inserted(),
        Rule::new("nat", "OUTPUT", &jump(OUTPUT)).inserted(),
        Rule::new("nat", "POSTROUTING", &["-j", POSTROUTING]).inserted(),
    ];
    add_all(&rules)?;
    Ok(rules)
}

/// Removes the jumps and our chains (with anything still in them).
pub(crate) fn remove_base(jumps: &[Rule]) -> Option<Error> {
    let mut first = del_all(jumps);
    for (t, c) in chains() {
        if run(&["-t", t, "-n", "-L", c]).is_ok() {
            for op in ["-F", "-X"] {
                let args = ["-t", t, op, c];
                if let Err(e) = run(&args) {
                    first.get_or_insert(fail(&args, e));
                }
            }
        }
    }
    first
}
