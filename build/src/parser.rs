//! Dockerfile syntax: parser directives, comments, line continuations (with the `escape`
//! directive's character), and the instructions this builder runs, each with its line.

use std::fmt;

/// A Dockerfile that cannot be parsed: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Dockerfile line {line}, column {column}: {message}")]
pub struct SyntaxError {
    /// 1-based line of the offending text.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A command: shell form (run by the stage's SHELL) or exec form (a JSON array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `RUN echo hi`.
    Shell(String),
    /// `RUN ["echo", "hi"]`.
    Exec(Vec<String>),
}

/// COPY and ADD arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyArgs {
    /// `--from=stage|image`.
    pub from: Option<String>,
    /// `--chown=user[:group]`.
    pub chown: Option<String>,
    /// `--chmod=octal`.
    pub chmod: Option<String>,
    /// Sources (context paths, globs, or for ADD URLs).
    pub sources: Vec<String>,
    /// Destination in the image.
    pub dest: String,
}

/// One instruction, with variables not yet expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// RUN with its `--mount`s.
    Run(Command, Vec<RunMount>),
    /// COPY.
    Copy(CopyArgs),
    /// ADD.
    Add(CopyArgs),
    /// ENV key=value pairs.
    Env(Vec<(String, String)>),
    /// ARG names with optional defaults.
    Arg(Vec<(String, Option<String>)>),
    /// WORKDIR.
    Workdir(String),
    /// USER.
    User(String),
    /// CMD.
    Cmd(Command),
    /// ENTRYPOINT.
    Entrypoint(Command),
    /// LABEL pairs.
    Label(Vec<(String, String)>),
    /// EXPOSE ports.
    Expose(Vec<String>),
    /// VOLUME paths.
    Volume(Vec<String>),
    /// STOPSIGNAL.
    StopSignal(String),
    /// SHELL (exec form only).
    Shell(Vec<String>),
    /// HEALTHCHECK; `None` for `HEALTHCHECK NONE`.
    Healthcheck(Option<Healthcheck>),
    /// ONBUILD: a trigger recorded in the image for builds FROM it.
    Onbuild(String),
}

/// A `RUN --mount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMount {
    /// A directory kept across builds (by `id`, default the target), not part of the layer.
    Cache {
        /// Where in the container.
        target: String,
        /// Which cache.
        id: Option<String>,
    },
    /// A read-only view of the context (or a stage's root) at `target`.
    Bind {
        /// Where in the container.
        target: String,
        /// The path in the context or stage (default its root).
        source: String,
        /// A stage or image instead of the context.
        from: Option<String>,
        /// Writable (`rw`): writes land in a throwaway layer, never in the source or image.
        rw: bool,
    },
    /// An empty tmpfs.
    Tmpfs {
        /// Where in the container.
        target: String,
    },
}

/// A HEALTHCHECK's command and timings (durations in nanoseconds, as the image config has them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Healthcheck {
    /// The probe.
    pub test: Option<Command>,
    /// `--interval`.
    pub interval: Option<u64>,
    /// `--timeout`.
    pub timeout: Option<u64>,
    /// `--start-period`.
    pub start_period: Option<u64>,
    /// `--start-interval`.
    pub start_interval: Option<u64>,
    /// `--retries`.
    pub retries: Option<u32>,
}

/// An instruction and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Line of the instruction keyword.
    pub line: usize,
    /// The logical line as written (continuations joined), for history and errors.
    pub text: String,
    /// The instruction.
    pub instruction: Instruction,
}

/// A build stage: FROM and the steps after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The base: an image reference, `scratch`, or an earlier stage's name (unexpanded).
    pub base: String,
    /// The `AS` name, lowercased.
    pub name: Option<String>,
    /// `--platform` if given.
    pub platform: Option<String>,
    /// Line of the FROM.
    pub line: usize,
    /// Its steps.
    pub steps: Vec<Step>,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    /// ARGs before the first FROM (usable in FROM lines).
    pub global_args: Vec<(String, Option<String>)>,
    /// The stages in order.
    pub stages: Vec<Stage>,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Shell(s) => f.write_str(s),
            Command::Exec(v) => write!(f, "{}", serde_json::to_string(v).unwrap_or_default()),
        }
    }
}

/// A logical line: text after joining continuations, and its first physical line.
struct Logical {
    line: usize,
    text: String,
}

/// Parses Dockerfile text.
pub fn parse(text: &str) -> Result<Dockerfile, SyntaxError> {
    let (escape, lines) = logical_lines(text)?;
    let mut out = Dockerfile::default();
    for l in lines {
        let trimmed = l.text.trim_start();
        let indent = l.text.len() - trimmed.len();
        let (word, rest) = match trimmed.split_once(|c: char| c.is_whitespace()) {
            Some((w, r)) => (w, r.trim()),
            None => (trimmed, ""),
        };
        let err = |col: usize, message: String| SyntaxError {
            line: l.line,
            column: col,
            message,
        };
        let arg_col = indent + word.len() + 2;
        let keyword = word.to_ascii_uppercase();
        if rest.is_empty() {
            return Err(err(indent + 1, format!("{keyword} requires arguments")));
        }
        if keyword == "FROM" {
            out.stages.push(parse_from(rest, l.line, arg_col)?);
            continue;
        }
        let instruction = match keyword.as_str() {
            "RUN" => {
                let (flags, rest) = take_flags(rest);
                let mut mounts = Vec::new();
                for f in flags {
                    match f.split_once('=') {
                        Some(("--mount", m)) => {
                            mounts.push(run_mount(m).map_err(|m| err(arg_col, m))?)
                        }
                        Some(("--network", "none")) => {}
                        _ => return Err(err(arg_col, format!("RUN flag {f} is not supported"))),
                    }
                }
                let c = match heredoc_body(rest) {
                    Some(script) => Command::Shell(script),
                    None => command(rest),
                };
                Instruction::Run(c, mounts)
            }
            "COPY" | "ADD" => {
                let args = parse_copy(&keyword, rest, escape).map_err(|m| err(arg_col, m))?;
                if keyword == "COPY" {
                    Instruction::Copy(args)
                } else {
                    Instruction::Add(args)
                }
            }
            "ENV" => Instruction::Env(pairs(rest, escape, true).map_err(|m| err(arg_col, m))?),
            "LABEL" => Instruction::Label(pairs(rest, escape, false).map_err(|m| err(arg_col, m))?),
            "ARG" => Instruction::Arg(
                words(rest, escape)
                    .into_iter()
                    .map(|w| match w.split_once('=') {
                        Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                        None => (w, None),
                    })
                    .collect(),
            ),
            "WORKDIR" => Instruction::Workdir(rest.to_owned()),
            "USER" => Instruction::User(rest.to_owned()),
            "CMD" => Instruction::Cmd(command(rest)),
            "ENTRYPOINT" => Instruction::Entrypoint(command(rest)),
            "EXPOSE" => Instruction::Expose(words(rest, escape)),
            "VOLUME" => Instruction::Volume(match json_array(rest) {
                Some(v) => v,
                None => words(rest, escape),
            }),
            "STOPSIGNAL" => Instruction::StopSignal(rest.to_owned()),
            "SHELL" => Instruction::Shell(
                json_array(rest)
                    .ok_or_else(|| err(arg_col, "SHELL requires the JSON array form".to_owned()))?,
            ),
            "HEALTHCHECK" => {
                Instruction::Healthcheck(healthcheck(rest).map_err(|m| err(arg_col, m))?)
            }
            "ONBUILD" => {
                let inner = rest.split_whitespace().next().unwrap_or("");
                if ["ONBUILD", "FROM", "MAINTAINER"].contains(&inner.to_ascii_uppercase().as_str())
                {
                    return Err(err(arg_col, format!("ONBUILD cannot trigger {inner}")));
                }
                Instruction::Onbuild(rest.to_owned())
            }
            _ => return Err(err(indent + 1, format!("unknown instruction {word:?}"))),
        };
        if let Instruction::Arg(args) = &instruction {
            if out.stages.is_empty() {
                out.global_args.extend(args.iter().cloned());
                continue;
            }
        }
        let Some(stage) = out.stages.last_mut() else {
            return Err(err(
                indent + 1,
                format!("{keyword} before the first FROM (only ARG may come first)"),
            ));
        };
        stage.steps.push(Step {
            line: l.line,
            text: format!("{keyword} {rest}"),
            instruction,
        });
    }
    if out.stages.is_empty() {
        return Err(SyntaxError {
            line: 1,
            column: 1,
            message: "no FROM instruction".into(),
        });
    }
    Ok(out)
}

/// Reads parser directives, then joins continuation lines and drops comments and blanks.
fn logical_lines(text: &str) -> Result<(char, Vec<Logical>), SyntaxError> {
    let mut escape = '\\';
    let mut directives_open = true;
    let mut out = Vec::new();
    let mut current: Option<Logical> = None;
    let mut heredoc: Option<(String, bool, Logical)> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let trimmed = raw.trim_start();
        if directives_open {
            if let Some((k, v)) = trimmed
                .strip_prefix('#')
                .and_then(|d| d.split_once('='))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim()))
                .filter(|(k, _)| !k.contains(' '))
            {
                if k == "escape" {
                    escape = match v {
                        "\\" => '\\',
                        "`" => '`',
                        _ => {
                            return Err(SyntaxError {
                                line: n,
                                column: raw.find(v).unwrap_or(0) + 1,
                                message: format!("escape directive must be \\ or `, not {v:?}"),
                            })
                        }
                    };
                }
                continue;
            }
            directives_open = false;
        }
        if let Some((word, strip, mut cur)) = heredoc.take() {
            cur.text.push('\n');
            cur.text.push_str(raw);
            let end = if strip {
                raw.trim_start_matches('\t')
            } else {
                raw
            };
            if end == word {
                out.push(cur);
            } else {
                heredoc = Some((word, strip, cur));
            }
            continue;
        }
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_none()) {
            continue;
        }
        let body = raw.trim_end();
        let (part, continues) = match body.strip_suffix(escape) {
            Some(p) => (p, true),
            None => (body, false),
        };
        let cur = current.get_or_insert_with(|| Logical {
            line: n,
            text: String::new(),
        });
        cur.text.push_str(part);
        if !continues {
            if let Some(done) = current.take() {
                match heredoc_start(&done.text) {
                    Some((word, strip)) => heredoc = Some((word, strip, done)),
                    None => out.push(done),
                }
            }
        }
    }
    if let Some((word, _, cur)) = heredoc {
        return Err(SyntaxError {
            line: cur.line,
            column: 1,
            message: format!("heredoc <<{word} is never closed"),
        });
    }
    out.extend(current.filter(|c| !c.text.trim().is_empty()));
    Ok((escape, out))
}

/// The terminator of a RUN line's heredoc (`<<EOF`, `<<-EOF`, `<<"EOF"`) and whether leading
/// tabs are stripped before comparing.
fn heredoc_start(line: &str) -> Option<(String, bool)> {
    let t = line.trim_start();
    let first = t.split_whitespace().next()?;
    if !first.eq_ignore_ascii_case("RUN") {
        return None;
    }
    let at = t.find("<<")?;
    let rest = &t[at + 2..];
    let (strip, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches(['"', '\'']);
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some((word, strip))
}

fn parse_from(rest: &str, line: usize, col: usize) -> Result<Stage, SyntaxError> {
    let (flags, rest) = take_flags(rest);
    let mut platform = None;
    for f in flags {
        match f.strip_prefix("--platform=") {
            Some(p) => platform = Some(p.to_owned()),
            None => {
                return Err(SyntaxError {
                    line,
                    column: col,
                    message: format!("FROM flag {f} is not supported"),
                })
            }
        }
    }
    let parts: Vec<&str> = rest.split_whitespace().collect();
    let (base, name) = match parts.as_slice() {
        [base] => (*base, None),
        [base, as_, name] if as_.eq_ignore_ascii_case("as") => {
            (*base, Some(name.to_ascii_lowercase()))
        }
        _ => {
            return Err(SyntaxError {
                line,
                column: col,
                message: format!("FROM wants `image [AS name]`, got {rest:?}"),
            })
        }
    };
    Ok(Stage {
        base: base.to_owned(),
        name,
        platform,
        line,
        steps: Vec::new(),
    })
}

/// Leading `--flag[=value]` words and the rest.
fn take_flags(mut rest: &str) -> (Vec<String>, &str) {
    let mut flags = Vec::new();
    while rest.starts_with("--") {
        let (f, r) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        flags.push(f.to_owned());
        rest = r.trim_start();
    }
    (flags, rest)
}

fn parse_copy(keyword: &str, rest: &str, escape: char) -> Result<CopyArgs, String> {
    let (flags, rest) = take_flags(rest);
    let mut args = CopyArgs::default();
    for f in flags {
        let (k, v) = f.split_once('=').unwrap_or((&f, ""));
        match k {
            "--from" if keyword == "COPY" => args.from = Some(v.to_owned()),
            "--chown" => args.chown = Some(v.to_owned()),
            "--chmod" => args.chmod = Some(v.to_owned()),
            "--link" => {}
            _ => return Err(format!("{keyword} flag {f} is not supported")),
        }
    }
    let mut all = json_array(rest).unwrap_or_else(|| words(rest, escape));
    if all.len() < 2 {
        return Err(format!(
            "{keyword} requires at least a source and a destination"
        ));
    }
    args.dest = all.pop().unwrap_or_default();
    args.sources = all;
    Ok(args)
}

fn healthcheck(rest: &str) -> Result<Option<Healthcheck>, String> {
    if rest.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let (flags, rest) = take_flags(rest);
    let mut h = Healthcheck::default();
    for f in flags {
        let (k, v) = f.split_once('=').unwrap_or((&f, ""));
        let dur = || {
            humantime::parse_duration(v)
                .map(|d| d.as_nanos() as u64)
                .map_err(|e| format!("{k}={v}: {e}"))
        };
        match k {
            "--interval" => h.interval = Some(dur()?),
            "--timeout" => h.timeout = Some(dur()?),
            "--start-period" => h.start_period = Some(dur()?),
            "--start-interval" => h.start_interval = Some(dur()?),
            "--retries" => {
                h.retries = Some(v.parse().map_err(|_| format!("{k}={v}: not a count"))?)
            }
            _ => return Err(format!("HEALTHCHECK flag {f} is not supported")),
        }
    }
    let (cmd, probe) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if !cmd.eq_ignore_ascii_case("cmd") || probe.trim().is_empty() {
        return Err("HEALTHCHECK wants NONE or [flags] CMD command".into());
    }
    h.test = Some(command(probe.trim()));
    Ok(Some(h))
}

/// `type=cache|bind|tmpfs,target=...,...` (docker's `--mount` keys and their aliases).
fn run_mount(spec: &str) -> Result<RunMount, String> {
    let mut kv = std::collections::BTreeMap::new();
    for part in spec.split(',') {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let k = match k {
            "dst" | "destination" => "target",
            "src" => "source",
            k => k,
        };
        kv.insert(k, v);
    }
    let target = kv
        .get("target")
        .filter(|t| !t.is_empty())
        .map(|t| t.to_string())
        .ok_or_else(|| format!("--mount={spec}: no target"));
    let ro = kv.get("readonly").or(kv.get("ro"));
    match kv.get("type").copied().unwrap_or("bind") {
        "cache" => Ok(RunMount::Cache {
            target: target?,
            id: kv.get("id").map(|s| s.to_string()),
        }),
        "bind" => Ok(RunMount::Bind {
            target: target?,
            source: kv.get("source").copied().unwrap_or("").to_owned(),
            from: kv.get("from").map(|s| s.to_string()),
            rw: ["rw", "readwrite"]
                .iter()
                .any(|k| kv.get(k).is_some_and(|v| v.is_empty() || *v == "true"))
                || ro.is_some_and(|v| *v == "false"),
        }),
        "tmpfs" => Ok(RunMount::Tmpfs { target: target? }),
        other => Err(format!("--mount type={other} is not supported")),
    }
}

/// `RUN <<EOF ... EOF` (the heredoc is the command): its body, a script for the shell. A
/// heredoc fed to a command (`RUN sh <<EOF`) stays in the shell text, which the shell reads.
fn heredoc_body(rest: &str) -> Option<String> {
    if !rest.starts_with("<<") {
        return None;
    }
    let (first, body) = rest.split_once('\n')?;
    if first.split_whitespace().count() > 1 {
        return None;
    }
    let body = body.rsplit_once('\n').map_or("", |(b, _)| b);
    Some(body.to_owned())
}

/// Exec form when the arguments are a JSON array of strings, else shell form.
fn command(rest: &str) -> Command {
    match json_array(rest) {
        Some(v) => Command::Exec(v),
        None => Command::Shell(rest.to_owned()),
    }
}

fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.starts_with('[') {
        return None;
    }
    serde_json::from_str(rest).ok()
}

/// Splits on unquoted whitespace; quotes are removed and the escape character escapes.
fn words(s: &str, escape: char) -> Vec<String> {
    split_words(s, escape).unwrap_or_else(|_| s.split_whitespace().map(str::to_owned).collect())
}

fn split_words(s: &str, escape: char) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (q, c) if c == escape && q != Some('\'') => {
                in_word = true;
                if let Some(n) = chars.next() {
                    // Inside double quotes only the quote and the escape itself are escaped.
                    if q == Some('"') && n != '"' && n != escape && n != '$' {
                        cur.push(c);
                    }
                    if n == '$' {
                        cur.push(c);
                    }
                    cur.push(n);
                }
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("unterminated {q} quote"));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// ENV/LABEL pairs: `k=v k2="v 2"`, or (ENV legacy) `key value with spaces`.
fn pairs(rest: &str, escape: char, legacy: bool) -> Result<Vec<(String, String)>, String> {
    let first = rest.split_whitespace().next().unwrap_or("");
    if legacy && !first.contains('=') {
        let value = rest[first.len()..].trim();
        let v = split_words(value, escape)?.join(" ");
        return Ok(vec![(first.to_owned(), v)]);
    }
    split_words(rest, escape)?
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(format!("{w:?} is not key=value")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(c: Command) -> Instruction {
        Instruction::Run(c, Vec::new())
    }

    fn steps(text: &str) -> Vec<Instruction> {
        let df = parse(text).unwrap();
        df.stages
            .into_iter()
            .flat_map(|s| s.steps)
            .map(|s| s.instruction)
            .collect()
    }

    #[test]
    fn stages_global_args_and_names() {
        let df = parse(
            "# syntax=docker/dockerfile:1\nARG BASE=busybox\nFROM ${BASE} AS Build\nRUN true\n\
             from scratch\nCOPY --from=build /a /b\n",
        )
        .unwrap();
        assert_eq!(df.global_args, [("BASE".into(), Some("busybox".into()))]);
        assert_eq!(df.stages.len(), 2);
        assert_eq!(df.stages[0].base, "${BASE}");
        assert_eq!(df.stages[0].name.as_deref(), Some("build"));
        assert_eq!(df.stages[1].base, "scratch");
        assert_eq!(df.stages[1].line, 5);
        let Instruction::Copy(c) = &df.stages[1].steps[0].instruction else {
            panic!()
        };
        assert_eq!(c.from.as_deref(), Some("build"));
        assert_eq!(
            (c.sources.as_slice(), c.dest.as_str()),
            (&["/a".to_owned()][..], "/b")
        );
    }

    #[test]
    fn run_forms_continuations_and_comments() {
        let got = steps(
            "FROM x\nRUN echo a \\\n# a comment inside\n  && echo b\nRUN [\"sh\", \"-c\", \"echo hi\"]\n\
             RUN [not json\nCMD [\"sh\"]\nENTRYPOINT top -b\n",
        );
        assert_eq!(
            got,
            [
                run(Command::Shell("echo a   && echo b".into())),
                run(Command::Exec(vec![
                    "sh".into(),
                    "-c".into(),
                    "echo hi".into()
                ])),
                run(Command::Shell("[not json".into())),
                Instruction::Cmd(Command::Exec(vec!["sh".into()])),
                Instruction::Entrypoint(Command::Shell("top -b".into())),
            ]
        );
    }

    #[test]
    fn escape_directive_changes_the_continuation_character() {
        let got = steps("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo ok\nCOPY a\\b c:\\dest\n");
        assert_eq!(got[0], run(Command::Shell("dir c:\\   && echo ok".into())));
        let Instruction::Copy(c) = &got[1] else {
            panic!()
        };
        assert_eq!(c.sources, ["a\\b"]);
    }

    #[test]
    fn env_label_arg_and_the_rest() {
        let got = steps(
            "FROM x\nENV A=1 B=\"two words\" C=a\\ b\nENV LEGACY some value\nLABEL \"k.x\"=v l=''\n\
             ARG V=3 W\nWORKDIR /app\nUSER 1000:1000\nEXPOSE 80/tcp 443\nVOLUME [\"/data\"]\n\
             VOLUME /a /b\nSTOPSIGNAL SIGTERM\nSHELL [\"/bin/sh\", \"-ec\"]\n\
             ADD --chown=1:2 --chmod=600 f.tar /opt/\n",
        );
        let s = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            got[0],
            Instruction::Env(s(&[("A", "1"), ("B", "two words"), ("C", "a b")]))
        );
        assert_eq!(got[1], Instruction::Env(s(&[("LEGACY", "some value")])));
        assert_eq!(got[2], Instruction::Label(s(&[("k.x", "v"), ("l", "")])));
        assert_eq!(
            got[3],
            Instruction::Arg(vec![("V".into(), Some("3".into())), ("W".into(), None)])
        );
        assert_eq!(got[4], Instruction::Workdir("/app".into()));
        assert_eq!(got[5], Instruction::User("1000:1000".into()));
        assert_eq!(
            got[6],
            Instruction::Expose(vec!["80/tcp".into(), "443".into()])
        );
        assert_eq!(got[7], Instruction::Volume(vec!["/data".into()]));
        assert_eq!(got[8], Instruction::Volume(vec!["/a".into(), "/b".into()]));
        assert_eq!(got[9], Instruction::StopSignal("SIGTERM".into()));
        assert_eq!(
            got[10],
            Instruction::Shell(vec!["/bin/sh".into(), "-ec".into()])
        );
        let Instruction::Add(a) = &got[11] else {
            panic!()
        };
        assert_eq!(
            (a.chown.as_deref(), a.chmod.as_deref()),
            (Some("1:2"), Some("600"))
        );
    }

    #[test]
    fn run_mounts() {
        let got = steps(
            "FROM x\nRUN --mount=type=cache,target=/root/.cache,id=pip \\\n  --mount=type=bind,source=src,target=/src,from=build \\\n  --mount=type=tmpfs,dst=/t --network=none make\n",
        );
        let Instruction::Run(c, m) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(c, &Command::Shell("make".into()));
        assert_eq!(
            m,
            &[
                RunMount::Cache {
                    target: "/root/.cache".into(),
                    id: Some("pip".into())
                },
                RunMount::Bind {
                    target: "/src".into(),
                    source: "src".into(),
                    from: Some("build".into()),
                    rw: false
                },
                RunMount::Tmpfs {
                    target: "/t".into()
                },
            ]
        );
        let e = parse("FROM x\nRUN --mount=type=ssh make\n").unwrap_err();
        assert!(e.message.contains("type=ssh"), "{e}");
        let e = parse("FROM x\nRUN --mount=type=cache make\n").unwrap_err();
        assert!(e.message.contains("target"), "{e}");
        let e = parse("FROM x\nRUN --network=host make\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 5), "{e}");
    }

    #[test]
    fn heredocs() {
        let got = steps(
            "FROM x\nRUN <<EOF\necho a\n# not a comment here\necho b\nEOF\n\
             RUN cat <<-\"END\" > /f\n\tline $HOME\n\tEND\nCMD x\n",
        );
        assert_eq!(
            got[0],
            run(Command::Shell(
                "echo a\n# not a comment here\necho b".into()
            ))
        );
        assert_eq!(
            got[1],
            run(Command::Shell(
                "cat <<-\"END\" > /f\n\tline $HOME\n\tEND".into()
            ))
        );
        assert_eq!(got[2], Instruction::Cmd(Command::Shell("x".into())));
        let e = parse("FROM x\nRUN <<EOF\necho\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("never closed"), "{e}");
    }

    #[test]
    fn healthcheck_and_onbuild() {
        let got = steps(
            "FROM x\nHEALTHCHECK --interval=1m30s --retries=3 CMD wget -q localhost\n\
             HEALTHCHECK NONE\nONBUILD COPY . /src\n",
        );
        let Instruction::Healthcheck(Some(h)) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(h.interval, Some(90_000_000_000));
        assert_eq!(h.retries, Some(3));
        assert_eq!(h.test, Some(Command::Shell("wget -q localhost".into())));
        assert_eq!(got[1], Instruction::Healthcheck(None));
        assert_eq!(got[2], Instruction::Onbuild("COPY . /src".into()));
        let e = parse("FROM x\nHEALTHCHECK --interval=soon CMD true\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 13), "{e}");
        assert!(e.message.contains("--interval=soon"), "{e}");
        assert!(parse("FROM x\nONBUILD FROM y\n").is_err());
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let e = parse("FROM x\n\n  BOGUS thing\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 3), "{e}");
        assert!(
            e.to_string().contains("unknown instruction \"BOGUS\""),
            "{e}"
        );
        let e = parse("FROM x\nENV A=\"unterminated\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 5), "{e}");
        assert!(e.message.contains("unterminated"), "{e}");
        let e = parse("RUN true\n").unwrap_err();
        assert!(e.message.contains("before the first FROM"), "{e}");
        let e = parse("FROM x\nCOPY onlyone\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 6), "{e}");
        let e = parse("FROM x\nSHELL sh -c\n").unwrap_err();
        assert!(e.message.contains("JSON"), "{e}");
        let e = parse("# escape=x\nFROM x\n").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
        assert!(parse("# just a comment\n").is_err());
    }
}
