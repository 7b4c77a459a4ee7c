//! Running a parsed Dockerfile: the stages the target needs, in order; each step's cache key
//! from its parent's key, the expanded instruction and what it reads; RUN/COPY/ADD steps each
//! a layer made in a snapshot of the previous one; the result named in the image store.

use crate::cache::{Cache, Entry};
use crate::copy::{self, Source};
use crate::error::{BuildError, Result};
use crate::expand::expand;
use crate::ignore::Ignore;
use crate::image::{self, State};
use crate::layer::commit_dir;
use crate::parser::{Command, CopyArgs, Dockerfile, Instruction, RunMount, Step};
use crate::run::{run, Process};
use crate::users::{self, Ids};
use dm_content::Digest;
use dm_image::Images;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static SEQ: AtomicU64 = AtomicU64::new(0);

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile (default `<context>/Dockerfile`).
    pub dockerfile: Option<PathBuf>,
    /// Names for the result.
    pub tags: Vec<String>,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// The stage to build (default the last).
    pub target: Option<String>,
    /// Run every step, ignoring the cache.
    pub no_cache: bool,
    /// The dm-runc binary.
    pub runtime: PathBuf,
    /// How new layers are compressed.
    pub compression: crate::layer::Compression,
    /// Export the cache entries this build used, with their layers (`--cache-to`).
    pub cache_to: Option<crate::cache_io::CacheRef>,
    /// Import exported caches before building (`--cache-from`).
    pub cache_from: Vec<crate::cache_io::CacheRef>,
    /// Labels set on the result (`--label`), over those the Dockerfile sets.
    pub labels: BTreeMap<String, String>,
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct Built {
    /// The image id (config digest).
    pub id: String,
    /// The names given.
    pub tags: Vec<String>,
    /// Steps that ran (containers started for RUN included).
    pub ran: usize,
    /// Steps taken from the cache.
    pub cached: usize,
    /// RUN containers started.
    pub containers: usize,
}

/// Builds per `opts` into `images`; `log` gets one line per step.
pub fn build(images: &Images, opts: &Options, log: &mut dyn FnMut(&str)) -> Result<Built> {
    let path = opts
        .dockerfile
        .clone()
        .unwrap_or_else(|| opts.context.join("Dockerfile"));
    let text = std::fs::read_to_string(&path).map_err(|e| BuildError::io("read", &path, e))?;
    let df = crate::parser::parse(&text)?;
    let ignore_path = opts.context.join(".dockerignore");
    let ignore = match std::fs::read_to_string(&ignore_path) {
        Ok(t) => Ignore::parse(&t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ignore::default(),
        Err(e) => return Err(BuildError::io("read", &ignore_path, e)),
    };
    let escape = if text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .any(|l| l.replace(' ', "").eq_ignore_ascii_case("#escape=`"))
    {
        '`'
    } else {
        '\\'
    };
    for key in crate::stale::clean(images) {
        log(&format!("removed {key}, left by a build that died"));
    }
    let cache = Cache::open(&images.root().join("build-cache"))?;
    for from in &opts.cache_from {
        let added = crate::cache_io::import(images, &cache, from)?;
        log(&format!("imported {added} cache entries from {from}"));
    }
    let mut b = Builder {
        images,
        opts,
        df: &df,
        ignore,
        escape,
        cache: cache.clone(),
        states: HashMap::new(),
        stats: (0, 0, 0),
        log,
    };
    let target = b.target_index()?;
    let mut pending: Vec<usize> = b.needed(target)?.into_iter().collect();
    pending.sort();
    // In waves: every stage whose dependencies are built; several at once run concurrently.
    while !pending.is_empty() {
        let mut ready = Vec::new();
        for &i in &pending {
            if b.deps(i)?.iter().all(|d| b.states.contains_key(d)) {
                ready.push(i);
            }
        }
        match ready.as_slice() {
            [] => unreachable!("stage dependencies only point to earlier stages"),
            [one] => b.build_stage(*one)?,
            many => b.build_concurrently(many)?,
        }
        pending.retain(|i| !ready.contains(i));
    }
    let mut state = b.states.remove(&target).unwrap_or_default();
    if !opts.labels.is_empty() {
        let labels = &mut state.config["Labels"];
        if !labels.is_object() {
            *labels = json!({});
        }
        for (k, v) in &opts.labels {
            labels[k] = json!(v);
        }
    }
    let (id, tags) = image::write(images, &state, &opts.tags)?;
    if let Some(to) = &opts.cache_to {
        crate::cache_io::export(images, &cache, &cache.used(), to)?;
        (b.log)(&format!("exported the build cache to {to}"));
    }
    Ok(Built {
        id,
        tags,
        ran: b.stats.0,
        cached: b.stats.1,
        containers: b.stats.2,
    })
}

struct Builder<'a> {
    images: &'a Images,
    opts: &'a Options,
    df: &'a Dockerfile,
    ignore: Ignore,
    escape: char,
    cache: Cache,
    states: HashMap<usize, State>,
    /// Steps run, steps cached, containers started.
    stats: (usize, usize, usize),
    log: &'a mut dyn FnMut(&str),
}

impl Builder<'_> {
    fn global_args(&self) -> BTreeMap<String, String> {
        // BuildKit's automatic platform ARGs: this builder builds for, and on, linux/amd64.
        let mut out: BTreeMap<String, String> = ["TARGET", "BUILD"]
            .into_iter()
            .flat_map(|p| {
                [
                    (format!("{p}PLATFORM"), "linux/amd64"),
                    (format!("{p}OS"), "linux"),
                    (format!("{p}ARCH"), "amd64"),
                ]
            })
            .map(|(k, v)| (k, v.to_owned()))
            .collect();
        for (k, v) in &self.df.global_args {
            if let Some(v) = self.opts.build_args.get(k).or(v.as_ref()) {
                out.insert(k.clone(), v.clone());
            }
        }
        out
    }

    fn stage_index(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.df
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| name.parse().ok().filter(|i| *i < self.df.stages.len()))
    }

    fn target_index(&self) -> Result<usize> {
        match &self.opts.target {
            None => Ok(self.df.stages.len() - 1),
            Some(t) => self.stage_index(t).ok_or_else(|| BuildError::Step {
                line: 0,
                instruction: format!("--target {t}"),
                message: "no stage has this name".into(),
            }),
        }
    }

    fn base_of(&self, i: usize) -> String {
        let args = self.global_args();
        expand(&self.df.stages[i].base, self.escape, &|n| {
            args.get(n).cloned()
        })
    }

    /// The stages `target` depends on (through FROM and COPY --from), itself included.
    /// The stages stage `i` uses: its base, COPY --from and RUN --mount from=.
    fn deps(&self, i: usize) -> Result<Vec<usize>> {
        let mut out = Vec::new();
        if let Some(dep) = self.stage_index(&self.base_of(i)).filter(|d| *d < i) {
            out.push(dep);
        }
        for s in &self.df.stages[i].steps {
            let froms: Vec<&String> = match &s.instruction {
                Instruction::Copy(CopyArgs { from: Some(f), .. }) => vec![f],
                Instruction::Run(_, mounts) => mounts
                    .iter()
                    .filter_map(|m| match m {
                        RunMount::Bind { from: Some(f), .. } => Some(f),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for f in froms {
                if let Some(dep) = self.stage_index(f) {
                    if dep >= i {
                        return Err(step_err(s, "from= names this or a later stage"));
                    }
                    out.push(dep);
                }
            }
        }
        Ok(out)
    }

    /// The stages `target` depends on, itself included.
    fn needed(&self, target: usize) -> Result<HashSet<usize>> {
        let mut out = HashSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if out.insert(i) {
                todo.extend(self.deps(i)?);
            }
        }
        Ok(out)
    }

    /// Builds independent stages on threads of their own; their logs follow in stage order.
    fn build_concurrently(&mut self, stages: &[usize]) -> Result<()> {
        let (images, opts, df, escape) = (self.images, self.opts, self.df, self.escape);
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = stages
                .iter()
                .map(|&i| {
                    let (states, ignore) = (self.states.clone(), self.ignore.clone());
                    let cache = self.cache.clone();
                    scope.spawn(move || {
                        let mut lines = Vec::new();
                        let built = (|| {
                            let mut log = |l: &str| lines.push(l.to_owned());
                            let mut b = Builder {
                                images,
                                opts,
                                df,
                                ignore,
                                escape,
                                cache: cache.clone(),
                                states,
                                stats: (0, 0, 0),
                                log: &mut log,
                            };
                            b.build_stage(i)?;
                            Ok((b.states.remove(&i).unwrap_or_default(), b.stats))
                        })();
                        (i, built, lines)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a stage's build thread panicked"))
                .collect()
        });
        let mut first_err = None;
        for (i, built, lines) in results {
            for l in lines {
                (self.log)(&l);
            }
            match built {
                Ok((st, (ran, cached, containers))) => {
                    self.states.insert(i, st);
                    self.stats.0 += ran;
                    self.stats.1 += cached;
                    self.stats.2 += containers;
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn build_stage(&mut self, i: usize) -> Result<()> {
        let stage = &self.df.stages[i];
        let base = self.base_of(i);
        (self.log)(&format!("FROM {base} (line {})", stage.line));
        let mut st = match self.stage_index(&base).filter(|d| *d < i) {
            Some(d) => self.states.get(&d).cloned().unwrap_or_default(),
            None if base == "scratch" => State::scratch(),
            None => {
                let platform = match &stage.platform {
                    Some(p) => {
                        let args = self.global_args();
                        let p = expand(p, self.escape, &|n| args.get(n).cloned());
                        Some(
                            p.parse::<dm_image::Platform>()
                                .map_err(|e| BuildError::Step {
                                    line: stage.line,
                                    instruction: format!("FROM --platform={p}"),
                                    message: e.to_string(),
                                })?,
                        )
                    }
                    None => None,
                };
                let mut st = image::base(self.images, &base, platform.as_ref())?;
                self.onbuild_triggers(&mut st, stage.line)?;
                st
            }
        };
        st.args.clear();
        let n = stage.steps.len();
        for (k, step) in stage.steps.iter().enumerate() {
            (self.log)(&format!("STEP {}/{n}: {}", k + 1, step.text));
            self.step(&mut st, step)?;
        }
        self.states.insert(i, st);
        Ok(())
    }

    /// Runs the base image's ONBUILD triggers right after FROM (at its line), as docker does;
    /// they are not passed on to this image.
    fn onbuild_triggers(&mut self, st: &mut State, line: usize) -> Result<()> {
        let triggers = match st.config.get_mut("OnBuild").map(Value::take) {
            Some(Value::Array(t)) => t,
            _ => return Ok(()),
        };
        for t in triggers.iter().filter_map(Value::as_str) {
            let df = crate::parser::parse(&format!("FROM scratch\n{t}\n")).map_err(|e| {
                BuildError::Step {
                    line,
                    instruction: format!("ONBUILD {t}"),
                    message: e.message,
                }
            })?;
            for mut step in df.stages.into_iter().flat_map(|s| s.steps) {
                step.line = line;
                (self.log)(&format!("ONBUILD {}", step.text));
                self.step(st, &step)?;
            }
        }
        Ok(())
    }

    fn step(&mut self, st: &mut State, step: &Step) -> Result<()> {
        let escape = self.escape;
        let vars = st.vars();
        let x = |s: &str| expand(s, escape, &|n| vars.get(n).cloned());
        match &step.instruction {
            Instruction::Env(pairs) => {
                for (k, v) in pairs {
                    let v = x(v);
                    st.set_env(k, &v);
                }
                self.meta(st, step, &json!(st.config["Env"]))
            }
            Instruction::Arg(args) => {
                let globals = self.global_args();
                for (k, v) in args {
                    let val = self
                        .opts
                        .build_args
                        .get(k)
                        .cloned()
                        .or_else(|| v.as_deref().map(&x))
                        .or_else(|| globals.get(k).cloned());
                    if let Some(val) = val {
                        st.args.insert(k.clone(), val);
                    }
                }
                self.meta(st, step, &json!(st.args))
            }
            Instruction::Workdir(w) => {
                let w = x(w);
                let cur = st.config["WorkingDir"].as_str().unwrap_or("/").to_owned();
                let new = Path::new(if cur.is_empty() { "/" } else { &cur }).join(w);
                st.config["WorkingDir"] = new.to_string_lossy().into();
                // As docker does, the directory is made (a layer only if it was missing).
                let dir = st.workdir();
                let extra = json!({"workdir": dir});
                self.layer_step(st, step, &extra, true, &mut |rootfs, _| {
                    let d = copy::resolve_in(rootfs, &dir)
                        .map_err(|e| BuildError::io("resolve", rootfs, e))?;
                    std::fs::create_dir_all(&d).map_err(|e| BuildError::io("create", &d, e))
                })
                .map(|_| ())
            }
            Instruction::User(u) => {
                st.config["User"] = x(u).into();
                self.meta(st, step, &st.config["User"].clone())
            }
            Instruction::Cmd(c) => {
                st.config["Cmd"] = json!(st.argv(c));
                self.meta(st, step, &Value::Null)
            }
            Instruction::Entrypoint(c) => {
                st.config["Entrypoint"] = json!(st.argv(c));
                if st.config.get("Cmd").is_some() {
                    st.config["Cmd"] = Value::Null;
                }
                self.meta(st, step, &Value::Null)
            }
            Instruction::Label(pairs) => {
                for (k, v) in pairs {
                    st.config["Labels"][x(k)] = x(v).into();
                }
                self.meta(st, step, &Value::Null)
            }
            Instruction::Expose(ports) => {
                for p in ports {
                    let p = x(p);
                    let p = if p.contains('/') {
                        p
                    } else {
                        format!("{p}/tcp")
                    };
                    st.config["ExposedPorts"][p] = json!({});
                }
                self.meta(st, step, &Value::Null)
            }
            Instruction::Volume(vols) => {
                for v in vols {
                    st.config["Volumes"][x(v)] = json!({});
                }
                self.meta(st, step, &Value::Null)
            }
            Instruction::StopSignal(s) => {
                st.config["StopSignal"] = x(s).into();
                self.meta(st, step, &Value::Null)
            }
            Instruction::Shell(sh) => {
                st.config["Shell"] = json!(sh);
                self.meta(st, step, &Value::Null)
            }
            Instruction::Healthcheck(h) => {
                st.config["Healthcheck"] = match h {
                    None => json!({"Test": ["NONE"]}),
                    Some(h) => {
                        let test = match &h.test {
                            Some(Command::Exec(v)) => {
                                let mut t = vec!["CMD".to_owned()];
                                t.extend(v.iter().cloned());
                                t
                            }
                            Some(Command::Shell(s)) => vec!["CMD-SHELL".to_owned(), s.clone()],
                            None => Vec::new(),
                        };
                        let mut v = json!({"Test": test});
                        let fields = [
                            ("Interval", h.interval),
                            ("Timeout", h.timeout),
                            ("StartPeriod", h.start_period),
                            ("StartInterval", h.start_interval),
                        ];
                        for (k, d) in fields {
                            if let Some(d) = d {
                                v[k] = d.into();
                            }
                        }
                        if let Some(r) = h.retries {
                            v["Retries"] = r.into();
                        }
                        v
                    }
                };
                self.meta(st, step, &Value::Null)
            }
            Instruction::Onbuild(t) => {
                let mut triggers = st.config["OnBuild"].as_array().cloned().unwrap_or_default();
                triggers.push(t.clone().into());
                st.config["OnBuild"] = triggers.into();
                self.meta(st, step, &Value::Null)
            }
            Instruction::Run(c, mounts) => self.run_step(st, step, c, mounts),
            Instruction::Copy(a) => self.copy_step(st, step, a, false, &x),
            Instruction::Add(a) => self.copy_step(st, step, a, true, &x),
        }
    }

    /// A step that only changes the config: its key and history entry.
    fn meta(&mut self, st: &mut State, step: &Step, extra: &Value) -> Result<()> {
        let key = st.next_key(&step.text, extra);
        self.cache.mark_used(&key);
        let entry = match self.cache.get(&key).filter(|_| !self.opts.no_cache) {
            Some(e) => e,
            None => {
                let e = Entry::now(None);
                self.cache.put(&key, &e)?;
                e
            }
        };
        st.push_history(step, &entry, true);
        st.key = key;
        Ok(())
    }

    fn run_step(
        &mut self,
        st: &mut State,
        step: &Step,
        c: &Command,
        mounts: &[RunMount],
    ) -> Result<()> {
        let args = st.argv(c);
        let mut env = st.env();
        for (k, v) in &st.args {
            if !env.iter().any(|e| e.starts_with(&format!("{k}="))) {
                env.push(format!("{k}={v}"));
            }
        }
        let cwd = st.workdir();
        let user = st.config["User"].as_str().unwrap_or("").to_owned();
        let mut views = Vec::new();
        let made = self.run_mounts(step, mounts, &mut views);
        let result = match made {
            Ok((specs, keys)) => {
                let extra =
                    json!({"args": args, "env": env, "cwd": cwd, "user": user, "mounts": keys});
                self.run_in(st, step, &extra, args, env, cwd, user, specs)
            }
            Err(e) => Err(e),
        };
        for v in views {
            v.release(self.images);
        }
        result
    }

    /// The OCI mounts of a RUN's `--mount`s, and what each contributes to the step's key.
    fn run_mounts(
        &mut self,
        step: &Step,
        mounts: &[RunMount],
        views: &mut Vec<View>,
    ) -> Result<(Vec<Value>, Vec<String>)> {
        let (mut specs, mut keys) = (Vec::new(), Vec::new());
        for m in mounts {
            match m {
                RunMount::Cache { target, id } => {
                    let name = Digest::of(id.as_deref().unwrap_or(target).as_bytes());
                    let dir = self
                        .images
                        .root()
                        .join("build-cache-mounts")
                        .join(name.hex());
                    std::fs::create_dir_all(&dir).map_err(|e| BuildError::io("create", &dir, e))?;
                    specs.push(json!({"destination": target, "type": "bind", "source": dir,
                        "options": ["rbind", "rw"]}));
                    keys.push(format!("cache:{target}"));
                }
                RunMount::Tmpfs { target } => {
                    specs.push(
                        json!({"destination": target, "type": "tmpfs", "source": "tmpfs",
                        "options": ["nosuid", "nodev"]}),
                    );
                    keys.push(format!("tmpfs:{target}"));
                }
                RunMount::Bind {
                    target,
                    source,
                    from,
                    rw,
                } => {
                    let rel = crate::ignore::parts(source).join("/");
                    let (root, key) = match from {
                        Some(f) => {
                            let v = self.view_of(step, f)?;
                            let out = (v.dir.clone(), format!("{}:{rel}", v.key));
                            views.push(v);
                            out
                        }
                        None => {
                            let src = Source {
                                root: &self.opts.context,
                                ignore: &self.ignore,
                            };
                            let found = src
                                .resolve(std::slice::from_ref(source))
                                .map_err(|m| step_err(step, &m))?;
                            let hash = src
                                .hash(&found)
                                .map_err(|e| BuildError::io("read", &self.opts.context, e))?;
                            (self.opts.context.clone(), hash)
                        }
                    };
                    let path = root.join(&rel);
                    if *rw {
                        let (spec, scratch) = self.throwaway(&path, target)?;
                        specs.push(spec);
                        views.push(scratch);
                        keys.push(format!("bind-rw:{target}:{key}"));
                    } else {
                        specs.push(
                            json!({"destination": target, "type": "bind", "source": path,
                            "options": ["rbind", "ro"]}),
                        );
                        keys.push(format!("bind:{target}:{key}"));
                    }
                }
            }
        }
        Ok((specs, keys))
    }

    #[allow(clippy::too_many_arguments)]
    fn run_in(
        &mut self,
        st: &mut State,
        step: &Step,
        extra: &Value,
        args: Vec<String>,
        env: Vec<String>,
        cwd: String,
        user: String,
        mounts: Vec<Value>,
    ) -> Result<()> {
        let (line, text) = (step.line, step.text.clone());
        let runtime = self.opts.runtime.clone();
        let mut output = String::new();
        let ran = self.layer_step(st, step, extra, false, &mut |rootfs, scratch| {
            let (ids, groups) = if user.is_empty() {
                (Ids { uid: 0, gid: 0 }, Vec::new())
            } else {
                let ids = users::resolve(rootfs, &user).map_err(|m| BuildError::Step {
                    line,
                    instruction: text.clone(),
                    message: m,
                })?;
                (ids, users::supplementary(rootfs, &user))
            };
            let dir =
                copy::resolve_in(rootfs, &cwd).map_err(|e| BuildError::io("resolve", rootfs, e))?;
            std::fs::create_dir_all(&dir).map_err(|e| BuildError::io("create", &dir, e))?;
            // Mount points the runtime makes are not part of the layer (as in BuildKit).
            let mut made_points = Vec::new();
            for m in &mounts {
                let t = m["destination"].as_str().unwrap_or("/");
                let p = copy::resolve_in(rootfs, t)
                    .map_err(|e| BuildError::io("resolve", rootfs, e))?;
                if p.symlink_metadata().is_err() {
                    made_points.push(p);
                }
            }
            let p = Process {
                runtime: &runtime,
                rootfs,
                args: &args,
                env: &env,
                cwd: &cwd,
                user: ids,
                groups,
                mounts: &mounts,
            };
            let ran = run(&p, scratch, line, &text);
            for p in made_points.iter().rev() {
                let _ = std::fs::remove_dir(p).or_else(|_| std::fs::remove_file(p));
            }
            output = ran?;
            Ok(())
        })?;
        for l in output.lines() {
            (self.log)(l);
        }
        if ran {
            self.stats.2 += 1;
        }
        Ok(())
    }

    fn copy_step(
        &mut self,
        st: &mut State,
        step: &Step,
        a: &CopyArgs,
        add: bool,
        x: &dyn Fn(&str) -> String,
    ) -> Result<()> {
        let sources: Vec<String> = a.sources.iter().map(|s| x(s)).collect();
        if let Some(url) = sources.iter().find(|s| {
            s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@")
        }) {
            return Err(step_err(
                step,
                &format!(
                    "remote source {url} refused: builds run offline, fetch it into the context"
                ),
            ));
        }
        let mut dest = x(&a.dest);
        if !dest.starts_with('/') {
            let keep_slash = dest.ends_with('/');
            dest = Path::new(&st.workdir())
                .join(&dest)
                .to_string_lossy()
                .into_owned();
            if keep_slash && !dest.ends_with('/') {
                dest.push('/');
            }
        }
        let chmod = match &a.chmod {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .map_err(|_| step_err(step, &format!("--chmod={m} is not an octal mode")))?,
            ),
            None => None,
        };
        let chown = a.chown.as_ref().map(|c| x(c));
        // Another stage's (or image's) root: its key and the patterns decide the result, so
        // the key needs no mount; the root is mounted read-only only when the step runs.
        let from_state = match &a.from {
            Some(f) => Some(self.state_of(step, &x(f))?),
            None => None,
        };
        let (context, ignore) = (self.opts.context.clone(), self.ignore.clone());
        let hash = match &from_state {
            Some(fs) => format!("{}:{}", fs.key, sources.join("\0")),
            None => {
                let src = Source {
                    root: &context,
                    ignore: &ignore,
                };
                let resolved = src.resolve(&sources).map_err(|m| step_err(step, &m))?;
                src.hash(&resolved)
                    .map_err(|e| BuildError::io("read", &context, e))?
            }
        };
        let extra =
            json!({"sources": hash, "dest": dest, "chown": chown, "chmod": chmod, "add": add});
        let images = self.images;
        let result = self.layer_step(st, step, &extra, false, &mut |rootfs, _| {
            let owner = match &chown {
                Some(c) => users::resolve(rootfs, c).map_err(|m| step_err(step, &m))?,
                None => Ids { uid: 0, gid: 0 },
            };
            let opts = copy::Options {
                owner,
                chmod,
                extract: add,
            };
            let view = match &from_state {
                Some(fs) => Some(View::mount(images, fs)?),
                None => None,
            };
            let empty = Ignore::default();
            let src = match &view {
                Some(v) => Source {
                    root: &v.dir,
                    ignore: &empty,
                },
                None => Source {
                    root: &context,
                    ignore: &ignore,
                },
            };
            let copied = src
                .resolve(&sources)
                .map_err(|m| step_err(step, &m))
                .and_then(|resolved| {
                    src.copy(&resolved, rootfs, &dest, &opts)
                        .map_err(|e| step_err(step, &e.to_string()))
                });
            if let Some(v) = view {
                v.release(images);
            }
            copied
        });
        result.map(|_| ())
    }

    /// The state of a stage of this build, or of an image (`COPY --from`, `RUN --mount=from=`).
    fn state_of(&mut self, step: &Step, from: &str) -> Result<State> {
        match self.stage_index(from) {
            Some(i) => self
                .states
                .get(&i)
                .cloned()
                .ok_or_else(|| step_err(step, "stage not built")),
            None => image::base(self.images, from, None),
        }
    }

    /// A writable mount of `path` at `target` whose writes are thrown away with the returned
    /// scratch dir (BuildKit's `rw` bind): an overlay over a directory, a copy of a file.
    fn throwaway(&self, path: &Path, target: &str) -> Result<(Value, View)> {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let key = format!("dm-build-rw-{}-{n}", std::process::id());
        let dir = scratch_dir(self.images, &key).join("mnt");
        let made =
            |p: &Path| std::fs::create_dir_all(p).map_err(|e| BuildError::io("create", p, e));
        made(&dir)?;
        let scratch = View {
            key,
            snap: None,
            dir: dir.clone(),
        };
        let meta = std::fs::metadata(path).map_err(|e| BuildError::io("stat", path, e))?;
        if !meta.is_dir() {
            let copy = dir.join("file");
            std::fs::copy(path, &copy).map_err(|e| BuildError::io("copy", path, e))?;
            let spec = json!({"destination": target, "type": "bind", "source": copy,
                "options": ["rbind", "rw"]});
            return Ok((spec, scratch));
        }
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        made(&upper)?;
        made(&work)?;
        let spec = json!({"destination": target, "type": "overlay", "source": "overlay",
            "options": [format!("lowerdir={}", path.display()),
                format!("upperdir={}", upper.display()), format!("workdir={}", work.display())]});
        Ok((spec, scratch))
    }

    /// A read-only mount of a stage's or an image's root.
    fn view_of(&mut self, step: &Step, from: &str) -> Result<View> {
        let st = self.state_of(step, from)?;
        View::mount(self.images, &st)
    }

    /// A step that makes a layer: from the cache, or by `work(rootfs, scratch)` in a fresh
    /// snapshot of the parent. With `optional`, a step that changed nothing adds no layer.
    /// Returns whether `work` ran.
    fn layer_step(
        &mut self,
        st: &mut State,
        step: &Step,
        extra: &Value,
        optional: bool,
        work: &mut dyn FnMut(&Path, &Path) -> Result<()>,
    ) -> Result<bool> {
        // A zstd build keys apart: its layers are other blobs than a gzip build's.
        let key = match self.opts.compression {
            crate::layer::Compression::Gzip => st.next_key(&step.text, extra),
            c => st.next_key(
                &step.text,
                &json!({"step": extra, "compression": c.media_type()}),
            ),
        };
        self.cache.mark_used(&key);
        let snaps = self.images.snapshotter();
        if !self.opts.no_cache {
            if let Some(e) = self.cache.get(&key) {
                if e.layer.is_none() && optional {
                    (self.log)(" ---> Using cache");
                    st.push_history(step, &e, true);
                    st.key = key;
                    self.stats.1 += 1;
                    return Ok(false);
                }
                if let Some(l) = &e.layer {
                    let chain = st.chain_after(&l.diff_id);
                    let have_blob = l
                        .digest
                        .parse::<Digest>()
                        .is_ok_and(|d| self.images.content().size(&d).is_ok());
                    // An imported (or pruned) step has its blob but no snapshot: unpacking
                    // it is still cheaper than running the step.
                    let unpacked = have_blob
                        && (snaps.stat(&chain).is_ok()
                            || self.unpack_cached(st, l, &chain).is_ok());
                    if unpacked {
                        (self.log)(" ---> Using cache");
                        st.push_layer(l.clone());
                        st.push_history(step, &e, false);
                        st.key = key;
                        self.stats.1 += 1;
                        return Ok(false);
                    }
                }
            }
        }
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let skey = format!("dm-build-{}-{n}", std::process::id());
        let scratch = scratch_dir(self.images, &skey);
        let rootfs = scratch.join("rootfs");
        let parent = st.chain_id().unwrap_or_default();
        let mounts = snaps.prepare(&skey, &parent, HashMap::new())?;
        let made = (|| -> Result<Option<crate::layer::Layer>> {
            std::fs::create_dir_all(&rootfs).map_err(|e| BuildError::io("create", &rootfs, e))?;
            dm_image::rootfs::mount(&mounts, &rootfs)?;
            let worked = work(&rootfs, &scratch.join("bundle"));
            dm_image::rootfs::unmount(&rootfs)?;
            worked?;
            let upper = dm_snapshotter::upper_dir(&mounts)
                .ok_or_else(|| step_err(step, "snapshot has no upper dir"))?;
            let unchanged = std::fs::read_dir(&upper)
                .map_err(|e| BuildError::io("read", &upper, e))?
                .next()
                .is_none();
            if optional && unchanged {
                return Ok(None);
            }
            let layer = commit_dir(self.images.content(), &upper, self.opts.compression)?;
            let chain = st.chain_after(&layer.diff_id);
            match snaps.commit(&chain, &skey, HashMap::new()) {
                Ok(()) | Err(dm_snapshotter::Error::AlreadyExists(_)) => {}
                Err(e) => return Err(e.into()),
            }
            Ok(Some(layer))
        })();
        if snaps.stat(&skey).is_ok() {
            let _ = snaps.remove(&skey);
        }
        let _ = std::fs::remove_dir_all(&scratch);
        let layer = made?;
        let e = Entry::now(layer.clone());
        self.cache.put(&key, &e)?;
        st.push_history(step, &e, layer.is_none());
        if let Some(l) = layer {
            st.push_layer(l);
        }
        st.key = key;
        self.stats.0 += 1;
        Ok(true)
    }
}

impl Builder<'_> {
    /// Makes the snapshot `chain` of a cached layer whose blob is present, on top of `st`.
    fn unpack_cached(&self, st: &State, l: &crate::layer::Layer, chain: &str) -> Result<()> {
        let blob = dm_image::Blob {
            digest: l
                .digest
                .parse()
                .map_err(|_| BuildError::Cache(format!("bad layer digest {}", l.digest)))?,
            size: l.size,
            media_type: l.media_type.clone(),
        };
        let diff_id = l
            .diff_id
            .parse()
            .map_err(|_| BuildError::Cache(format!("bad diff id {}", l.diff_id)))?;
        let parent = st.chain_id().unwrap_or_default();
        dm_image::unpack::apply_blob(
            self.images.content(),
            self.images.snapshotter(),
            &blob,
            &diff_id,
            chain,
            &parent,
        )?;
        Ok(())
    }
}

/// A mounted read-only root for COPY --from.
struct View {
    key: String,
    snap: Option<String>,
    dir: PathBuf,
}

impl View {
    /// Mounts `st`'s root read-only in a scratch dir of its own.
    fn mount(images: &Images, st: &State) -> Result<View> {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let key = format!("dm-build-view-{}-{n}", std::process::id());
        let dir = scratch_dir(images, &key).join("rootfs");
        std::fs::create_dir_all(&dir).map_err(|e| BuildError::io("create", &dir, e))?;
        let mut v = View {
            key: st.key.clone(),
            snap: None,
            dir,
        };
        if let Some(chain) = st.chain_id() {
            let mounts = images.snapshotter().view(&key, &chain, HashMap::new())?;
            v.snap = Some(key);
            if let Err(e) = dm_image::rootfs::mount(&mounts, &v.dir) {
                v.release(images);
                return Err(e.into());
            }
        }
        Ok(v)
    }

    fn release(self, images: &Images) {
        if let Some(s) = &self.snap {
            let _ = dm_image::rootfs::unmount(&self.dir);
            let _ = images.snapshotter().remove(s);
        }
        if let Some(scratch) = self.dir.parent() {
            let _ = std::fs::remove_dir_all(scratch);
        }
    }
}

fn scratch_dir(images: &Images, key: &str) -> PathBuf {
    images.root().join("build-tmp").join(key)
}

fn step_err(step: &Step, message: &str) -> BuildError {
    BuildError::Step {
        line: step.line,
        instruction: step.text.clone(),
        message: message.to_owned(),
    }
}
