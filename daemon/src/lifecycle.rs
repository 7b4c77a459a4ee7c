//! Container lifecycle: create (record + writable snapshot), start (rootfs, config.json,
//! fifos, a shim), exit handling, stop, kill, remove, and recovery after a daemon restart.

use crate::daemon::{random_id, Daemon, Entry, Phase};
use crate::error::{ApiError, ApiResult};
use crate::jsonlog::{JsonLog, Rotation};
use crate::record::{now_rfc3339, CreateRequest, Record, State};
use crate::shim::{self, Shim};
use crate::spec;
use crate::stdio::{self, Fifos, STDERR, STDOUT};
use containerd_shim_protos::api::CreateTaskRequest;
use containerd_shim_protos::api::Status as TaskStatus;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const ADJECTIVES: &[&str] = &[
    "brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry",
    "nifty", "proud", "quiet", "rapid", "sharp", "tender", "vivid", "witty", "zealous", "bold",
];
const NAMES: &[&str] = &[
    "turing", "hopper", "lovelace", "ritchie", "thompson", "knuth", "dijkstra", "hamilton",
    "noether", "curie", "shannon", "torvalds", "liskov", "kay", "lamport", "wirth",
];

/// Docker's rule for container names.
pub(crate) fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("blocking task panicked")
}

impl Daemon {
    fn pick_name(&self, id: &str) -> String {
        let b = id.as_bytes();
        let base = format!(
            "{}_{}",
            ADJECTIVES[b[0] as usize % ADJECTIVES.len()],
            NAMES[b[1] as usize % NAMES.len()]
        );
        let ctrs = self.ctrs();
        if ctrs.values().any(|e| e.rec.name == base) {
            return format!("{base}_{}", &id[..6]);
        }
        base
    }

    /// Creates a container: checks the request, merges the image's defaults, prepares the
    /// writable snapshot and saves the record. Nothing is left when it fails.
    pub async fn create(
        self: &Arc<Self>,
        name: Option<&str>,
        req: CreateRequest,
    ) -> ApiResult<String> {
        let mut config = req.config;
        let host = req.host_config.unwrap_or_default();
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            let n = n.trim_start_matches('/');
            if !valid_name(n) {
                return Err(ApiError::bad(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
        }
        if config.image.is_empty() {
            return Err(ApiError::bad("Config.Image is required"));
        }
        crate::restart::check_create(&host)?;
        let defaults = crate::jsonlog::parse_defaults(&self.cfg.log_opts)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        crate::jsonlog::rotation(host.log_config.as_ref(), &defaults)?;
        if host.memory < 0 || host.nano_cpus < 0 {
            return Err(ApiError::bad(
                "HostConfig.Memory and HostConfig.NanoCpus must not be negative",
            ));
        }
        if !config.working_dir.is_empty() && !config.working_dir.starts_with('/') {
            return Err(ApiError::bad(format!(
                "the working directory '{}' is invalid, it needs to be an absolute path",
                config.working_dir
            )));
        }
        let details = self.images.inspect(&config.image).map_err(|e| match e {
            dm_image::ImageError::NotFound(_) => {
                ApiError::not_found(format!("No such image: {}", config.image))
            }
            e => e.into(),
        })?;
        let img = details.config.get("config").cloned().unwrap_or_default();
        let strings =
            |k: &str| -> Option<Vec<String>> { serde_json::from_value(img.get(k)?.clone()).ok() };
        // Docker's rule: an entrypoint in the request drops the image's cmd too.
        let (entrypoint, cmd) = match &config.entrypoint {
            Some(ep) => (ep.clone(), config.cmd.clone().unwrap_or_default()),
            None => (
                strings("Entrypoint").unwrap_or_default(),
                config
                    .cmd
                    .clone()
                    .filter(|c| !c.is_empty())
                    .or_else(|| strings("Cmd"))
                    .unwrap_or_default(),
            ),
        };
        let image_health = img
            .get("Healthcheck")
            .and_then(|h| serde_json::from_value(h.clone()).ok());
        config.healthcheck = crate::health::merge(config.healthcheck.take(), image_health)?;
        let mut argv: Vec<String> = entrypoint.iter().chain(&cmd).cloned().collect();
        if argv.is_empty() {
            return Err(ApiError::bad("No command specified"));
        }
        let path = argv.remove(0);
        let mut env = strings("Env").unwrap_or_default();
        for e in config.env.clone().unwrap_or_default() {
            let key = e.split('=').next().unwrap_or_default().to_owned();
            env.retain(|x| x.split('=').next() != Some(key.as_str()));
            env.push(e);
        }
        config.env = Some(env);
        config.entrypoint = (!entrypoint.is_empty()).then_some(entrypoint);
        config.cmd = Some(cmd);
        if config.working_dir.is_empty() {
            config.working_dir = img
                .get("WorkingDir")
                .and_then(|w| w.as_str())
                .unwrap_or_default()
                .to_owned();
        }
        if config.user.is_empty() {
            config.user = img
                .get("User")
                .and_then(|w| w.as_str())
                .unwrap_or_default()
                .to_owned();
        }
        if config.stop_signal.is_none() {
            config.stop_signal = img
                .get("StopSignal")
                .and_then(|w| w.as_str())
                .map(str::to_owned);
        }
        let mut labels = img
            .get("Labels")
            .and_then(|l| {
                serde_json::from_value::<std::collections::BTreeMap<String, String>>(l.clone()).ok()
            })
            .unwrap_or_default();
        labels.extend(config.labels.take().unwrap_or_default());
        config.labels = Some(labels);
        let mut volumes: Vec<String> = config
            .volumes
            .iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect();
        volumes.extend(
            img.get("Volumes")
                .and_then(|v| v.as_object())
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone()),
        );
        let inherited = self.volumes_from(host.volumes_from.as_deref().unwrap_or_default())?;
        let mut plan = crate::mounts::plan(
            host.binds.as_deref().unwrap_or_default(),
            host.mounts.as_deref().unwrap_or_default(),
            &host.tmpfs.clone().unwrap_or_default(),
            &inherited,
            &volumes,
        )?;
        for m in plan.points.iter_mut().filter(|m| m.kind == "volume") {
            m.source = self
                .volumes
                .data_dir(&m.name)
                .to_string_lossy()
                .into_owned();
        }
        let networks =
            self.net_create_check(&host, req.networking_config.as_ref(), &mut config, &img)?;

        let id = random_id();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => n.trim_start_matches('/').to_owned(),
            None => self.pick_name(&id),
        };
        let rec = Record {
            id: id.clone(),
            name: name.clone(),
            created: now_rfc3339(),
            image_id: details.record.config.clone(),
            config,
            host_config: host,
            path,
            args: argv,
            state: State::default(),
            shim_address: String::new(),
            mount_points: plan.points,
            networks,
            restart_count: 0,
            manually_stopped: false,
        };
        {
            // Claims the name before the slow part; a concurrent create with it fails here.
            let mut ctrs = self.ctrs();
            if let Some(other) = ctrs.values().find(|e| e.rec.name == name) {
                return Err(ApiError::conflict(format!(
                    "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    other.rec.id
                )));
            }
            ctrs.insert(
                id.clone(),
                Entry {
                    rec: rec.clone(),
                    hub: None,
                    stdin: watch::channel(None).0,
                    phase: watch::channel(Phase::default()).0,
                    shim: None,
                    life: Default::default(),
                },
            );
        }
        let new_volumes = match self.ensure_volumes(&plan.needed) {
            Ok(v) => v,
            Err(e) => {
                self.ctrs().remove(&id);
                return Err(e);
            }
        };
        let d = self.clone();
        let (image_id, key) = (rec.image_id.clone(), id.clone());
        let created = rec.clone();
        let made = blocking(move || -> ApiResult<()> {
            d.images.prepare(&image_id, &key)?;
            rec.save(&d.container_dir(&key)).map_err(|e| {
                let _ = d.images.snapshotter().remove(&key);
                ApiError::internal(e.to_string())
            })
        })
        .await;
        if let Err(e) = made {
            self.ctrs().remove(&id);
            let _ = std::fs::remove_dir_all(self.container_dir(&id));
            self.drop_volumes(&new_volumes);
            return Err(e);
        }
        self.emit_container(&created, "create", &[]);
        Ok(id)
    }

    /// Starts a created or exited container as a user does (restart count and back-off start
    /// over); false when it already runs.
    pub async fn start(self: &Arc<Self>, id: &str) -> ApiResult<bool> {
        self.start_by(id, true).await
    }

    /// Starts a container, by a user or (`by_user` false) by its restart policy.
    pub async fn start_by(self: &Arc<Self>, id: &str, by_user: bool) -> ApiResult<bool> {
        let ops = self
            .ops(id)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {id}")))?;
        let _op = ops.lock().await;
        self.start_locked(id, by_user).await
    }

    /// [`Daemon::start_by`] with the container's ops lock held.
    pub async fn start_locked(self: &Arc<Self>, id: &str, by_user: bool) -> ApiResult<bool> {
        let rec = {
            let mut ctrs = self.ctrs();
            let e = ctrs
                .get_mut(id)
                .ok_or_else(|| ApiError::not_found(format!("No such container: {id}")))?;
            if e.rec.state.running || e.rec.state.status == "starting" {
                return Ok(false);
            }
            if e.rec.state.status == "removing" {
                return Err(ApiError::conflict(format!(
                    "container {id} is being removed"
                )));
            }
            e.rec.state.status = "starting".into();
            e.life.exit_on_next = false;
            if by_user {
                e.rec.restart_count = 0;
                e.rec.manually_stopped = false;
                e.life.backoff = Duration::ZERO;
            }
            e.rec.clone()
        };
        let d = self.clone();
        let r = blocking(move || d.start_task(&rec)).await;
        let (shim, address, pid_hint) = match r {
            Ok(v) => v,
            Err(e) => {
                let auto_remove = {
                    let mut ctrs = self.ctrs();
                    let Some(en) = ctrs.get_mut(id) else {
                        return Err(e);
                    };
                    en.rec.state.status = if en.rec.state.finished_at == crate::record::ZERO_TIME {
                        "created"
                    } else {
                        "exited"
                    }
                    .into();
                    en.rec.state.error = e.message.clone();
                    en.rec.state.exit_code = 128;
                    self.save(&en.rec);
                    en.rec.host_config.auto_remove
                };
                // As dockerd: a --rm container that cannot start is removed.
                if auto_remove {
                    self.remove_now(id).await;
                }
                return Err(e);
            }
        };
        let rec = self.record(id)?;
        let fifos = Fifos::paths(
            &self.bundle(id),
            "init",
            rec.config.open_stdin,
            rec.config.tty,
        );
        if let Err(e) = self.attach_io(id, &fifos) {
            eprintln!("dockermindd: container {id}: stdio: {e}");
        }
        {
            let mut ctrs = self.ctrs();
            if let Some(en) = ctrs.get_mut(id) {
                let health = crate::health::initial(&en.rec);
                en.shim = Some(shim.clone());
                en.rec.shim_address = address;
                en.rec.state = State {
                    status: "running".into(),
                    running: true,
                    pid: pid_hint,
                    exit_code: 0,
                    error: String::new(),
                    started_at: now_rfc3339(),
                    finished_at: en.rec.state.finished_at.clone(),
                    restarting: false,
                    health,
                };
                self.save(&en.rec);
                // Before the process runs: a quick exit's die cannot come first.
                self.emit_container(&en.rec, "start", &[]);
            }
        }
        let (s, i) = (shim.clone(), id.to_owned());
        match blocking(move || s.start(&i, "")).await {
            Ok(pid) => {
                let mut ctrs = self.ctrs();
                if let Some(en) = ctrs.get_mut(id).filter(|en| en.rec.state.running) {
                    en.rec.state.pid = pid;
                    self.save(&en.rec);
                }
                drop(ctrs);
                self.monitor_health(id);
                Ok(true)
            }
            Err(e) => {
                let msg = e.message();
                self.on_exit(id, 128).await;
                if let Some(en) = self.ctrs().get_mut(id) {
                    en.rec.state.error = msg.clone();
                    self.save(&en.rec);
                }
                Err(ApiError::bad(format!(
                    "failed to start container {id}: {msg}"
                )))
            }
        }
    }

    /// The blocking half of start: rootfs, config.json, fifos, shim, Create.
    fn start_task(&self, rec: &Record) -> ApiResult<(Shim, String, u32)> {
        let id = &rec.id;
        let bundle = self.bundle(id);
        let rootfs = bundle.join("rootfs");
        let internal = |e: String| ApiError::internal(format!("start container {id}: {e}"));
        std::fs::create_dir_all(&rootfs)
            .map_err(|e| internal(format!("create {}: {e}", rootfs.display())))?;
        let undo = |d: &Daemon| {
            d.release_volumes(id, &rec.mount_points, false);
            let _ = dm_image::rootfs::unmount(&rootfs);
            let _ = std::fs::remove_dir_all(d.bundle(id));
        };
        let mounts = self
            .images
            .snapshotter()
            .mounts(id)
            .map_err(|e| internal(e.to_string()));
        let mounted = mounts.and_then(|m| {
            dm_image::rootfs::mount(&m, &rootfs).map_err(|e| internal(e.to_string()))
        });
        if let Err(e) = mounted {
            let _ = std::fs::remove_dir_all(&bundle);
            return Err(e);
        }
        let result = (|| {
            self.mount_volumes(id, &rec.mount_points, &rootfs)?;
            let mut spec = spec::build(rec, &rootfs, &self.cfg.cgroup_parent)?;
            self.net_spec(rec, &mut spec)?;
            std::fs::write(
                bundle.join("config.json"),
                serde_json::to_vec_pretty(&spec).unwrap_or_default(),
            )
            .map_err(|e| internal(format!("write config.json: {e}")))?;
            // The shim's own stderr; a regular file here, containerd's fifo elsewhere.
            let _ = std::fs::File::create(bundle.join("log"));
            let fifos = Fifos::paths(&bundle, "init", rec.config.open_stdin, rec.config.tty);
            fifos
                .make()
                .map_err(|e| internal(format!("make fifos: {e}")))?;
            let address = shim::launch(&self.cfg.shim_binary(), &bundle, id, &self.cfg.exec_root)
                .map_err(|e| internal(e.to_string()))?;
            let shim = Shim::connect(&address).map_err(|e| internal(e.to_string()))?;
            let req = CreateTaskRequest {
                id: id.clone(),
                bundle: bundle.to_string_lossy().into_owned(),
                terminal: rec.config.tty,
                stdin: Fifos::field(&fifos.stdin),
                stdout: fifos.stdout.to_string_lossy().into_owned(),
                stderr: Fifos::field(&fifos.stderr),
                ..Default::default()
            };
            // The network is wired between create and start: the process starts connected.
            match shim
                .create(req, &self.runtime_root())
                .map_err(|e| e.message())
                .and_then(|pid| self.net_up(rec, pid).map(|_| pid).map_err(|e| e.message))
            {
                Ok(pid) => Ok((shim, address, pid)),
                Err(msg) => {
                    let _ = shim.delete(id, "");
                    shim.shutdown(id);
                    Err(ApiError::bad(format!(
                        "failed to create task for container {id}: {msg}"
                    )))
                }
            }
        })();
        if result.is_err() {
            undo(self);
        }
        result
    }

    /// Opens the fifos of a running init: output copiers into the log and the hub, stdin.
    fn attach_io(self: &Arc<Self>, id: &str, fifos: &Fifos) -> std::io::Result<()> {
        let rot = self
            .record(id)
            .ok()
            .and_then(|r| self.log_rotation(&r).ok())
            .unwrap_or(Rotation {
                max_size: None,
                max_file: 1,
                compress: false,
            });
        let log = JsonLog::open(&self.log_path(id), rot)?;
        let hub = {
            let mut ctrs = self.ctrs();
            let Some(en) = ctrs.get_mut(id) else {
                return Ok(());
            };
            en.hub.get_or_insert_with(stdio::hub).clone()
        };
        let out = stdio::open_reader(&fifos.stdout)?;
        tokio::spawn(stdio::copy_output(
            out,
            STDOUT,
            Some(log.clone()),
            hub.clone(),
        ));
        if let Some(p) = &fifos.stderr {
            let err = stdio::open_reader(p)?;
            tokio::spawn(stdio::copy_output(err, STDERR, Some(log), hub));
        }
        if let Some(p) = &fifos.stdin {
            let w = stdio::open_writer(p)?;
            if let Some(en) = self.ctrs().get_mut(id) {
                en.stdin
                    .send_replace(Some(Arc::new(tokio::sync::Mutex::new(Some(w)))));
            }
        }
        Ok(())
    }

    /// The init exited with `code`: delete the task, stop the shim, unmount, record, notify,
    /// then restart it as its policy says or remove it if it asked for that.
    pub async fn on_exit(self: &Arc<Self>, id: &str, code: i32) {
        self.on_exit_with(id, code, true).await
    }

    /// [`Daemon::on_exit`]; `policy` false leaves restarts to [`Daemon::restart_on_boot`].
    async fn on_exit_with(self: &Arc<Self>, id: &str, code: i32, policy: bool) {
        let shim = {
            let mut ctrs = self.ctrs();
            let Some(en) = ctrs.get_mut(id) else { return };
            if !en.rec.state.running && en.rec.state.status != "starting" {
                return;
            }
            en.rec.state.running = false;
            en.rec.state.status = "exiting".into();
            en.shim.take()
        };
        let d = self.clone();
        let i = id.to_owned();
        blocking(move || {
            d.net_down(&i);
            match shim {
                Some(s) => {
                    let _ = s.delete(&i, "");
                    s.shutdown(&i);
                }
                None => {
                    shim::delete_action(&d.cfg.shim_binary(), &d.bundle(&i), &i, &d.cfg.exec_root)
                }
            }
            let _ = dm_image::rootfs::unmount(&d.bundle(&i).join("rootfs"));
            let _ = std::fs::remove_dir_all(d.bundle(&i));
            if let Ok(rec) = d.record(&i) {
                d.release_volumes(&i, &rec.mount_points, true);
            }
        })
        .await;
        let (auto_remove, restart) = {
            let mut ctrs = self.ctrs();
            let Some(en) = ctrs.get_mut(id) else { return };
            en.rec.state.status = "exited".into();
            en.rec.state.pid = 0;
            en.rec.state.exit_code = code;
            en.rec.state.finished_at = now_rfc3339();
            en.rec.shim_address.clear();
            // Attaches end once the copiers drain what the process wrote.
            en.hub = None;
            en.stdin.send_replace(None);
            self.drop_execs(id);
            let restart = if policy {
                crate::restart::plan(en, code)
            } else {
                None
            };
            self.save(&en.rec);
            en.phase.send_modify(|p| {
                p.exits += 1;
                p.code = code;
            });
            self.emit_container(&en.rec, "die", &[("exitCode", &code.to_string())]);
            (en.rec.host_config.auto_remove && restart.is_none(), restart)
        };
        if let Some((delay, generation)) = restart {
            self.schedule_restart(id, delay, generation);
        }
        if auto_remove {
            self.remove_now(id).await;
        }
    }

    /// Sends `signal` to the init (all processes with `all`).
    pub async fn kill(self: &Arc<Self>, id: &str, signal: u32, all: bool) -> ApiResult<()> {
        // Only waiting to restart: cancelling the restart stops it.
        if self.user_stop(id, signal) {
            return Ok(());
        }
        // Frozen processes cannot act on a signal (or die of SIGKILL on cgroup v1).
        self.thaw_for_signal(id).await;
        let shim = {
            let ctrs = self.ctrs();
            let en = ctrs
                .get(id)
                .ok_or_else(|| ApiError::not_found(format!("No such container: {id}")))?;
            match (&en.shim, en.rec.state.running) {
                (Some(s), true) => s.clone(),
                _ => return Err(ApiError::conflict(format!("Container {id} is not running"))),
            }
        };
        let i = id.to_owned();
        blocking(move || shim.kill(&i, "", signal, all))
            .await
            .map_err(|e| ApiError::internal(format!("kill container {id}: {}", e.message())))?;
        if let Ok(rec) = self.record(id) {
            self.emit_container(&rec, "kill", &[("signal", &signal.to_string())]);
        }
        Ok(())
    }

    /// Waits until the container's exit count passes `seen` (bounded by `limit`).
    async fn wait_exit(&self, id: &str, seen: u64, limit: Duration) -> bool {
        let Some(mut rx) = self.ctrs().get(id).map(|e| e.phase.subscribe()) else {
            return true;
        };
        let r = tokio::time::timeout(limit, rx.wait_for(|p| p.exits > seen || p.removed)).await;
        r.is_ok()
    }

    /// Stops: the stop signal, then SIGKILL after the timeout. False if it was not running.
    pub async fn stop(self: &Arc<Self>, id: &str, timeout: Option<i64>) -> ApiResult<bool> {
        let ops = self
            .ops(id)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {id}")))?;
        // A policy restart in flight finishes first; its run is then the one stopped.
        let _op = ops.lock().await;
        // The process is gone but its exit not yet handled: that exit must not restart it.
        if let Some(seen) = self.stop_while_exiting(id) {
            self.wait_exit(id, seen, Duration::from_secs(30)).await;
            return Ok(true);
        }
        let (seen, sig, default_t) = {
            let ctrs = self.ctrs();
            let en = ctrs
                .get(id)
                .ok_or_else(|| ApiError::not_found(format!("No such container: {id}")))?;
            if !en.rec.state.running {
                return Ok(false);
            }
            let sig = en
                .rec
                .config
                .stop_signal
                .as_deref()
                .map(parse_signal)
                .transpose()?
                .unwrap_or(libc::SIGTERM as u32);
            (
                {
                    let e = en.phase.borrow().exits;
                    e
                },
                sig,
                en.rec.config.stop_timeout.unwrap_or(10),
            )
        };
        let t = timeout.unwrap_or(default_t);
        if t != 0 {
            let _ = self.kill(id, sig, false).await;
            let limit = if t < 0 {
                Duration::MAX / 4
            } else {
                Duration::from_secs(t as u64)
            };
            if self.wait_exit(id, seen, limit).await {
                return Ok(true);
            }
        }
        let _ = self.kill(id, libc::SIGKILL as u32, true).await;
        if !self.wait_exit(id, seen, Duration::from_secs(30)).await {
            return Err(ApiError::internal(format!(
                "container {id} did not exit 30 s after SIGKILL"
            )));
        }
        Ok(true)
    }

    /// Removes the container (`force` kills a running one first).
    pub async fn remove(self: &Arc<Self>, id: &str, force: bool) -> ApiResult<()> {
        let (running, seen) = {
            let ctrs = self.ctrs();
            let en = ctrs
                .get(id)
                .ok_or_else(|| ApiError::not_found(format!("No such container: {id}")))?;
            (en.rec.state.running || en.rec.state.status == "starting", {
                let e = en.phase.borrow().exits;
                e
            })
        };
        if running {
            if !force && self.record(id).is_ok_and(|r| r.state.restarting) {
                return Err(ApiError::conflict(format!(
                    "You cannot remove a restarting container {id}. Stop the container before attempting removal or force remove"
                )));
            }
            if !force {
                return Err(ApiError::conflict(format!(
                    "You cannot remove a running container {id}. Stop the container before attempting removal or force remove"
                )));
            }
            let _ = self.kill(id, libc::SIGKILL as u32, true).await;
            if !self.wait_exit(id, seen, Duration::from_secs(30)).await {
                return Err(ApiError::internal(format!(
                    "container {id} did not exit 30 s after SIGKILL"
                )));
            }
        }
        self.remove_now(id).await;
        Ok(())
    }

    /// Drops a stopped container: snapshot, record, log, bundle; wakes `removed` waiters.
    async fn remove_now(self: &Arc<Self>, id: &str) {
        let Some(en) = self.ctrs().remove(id) else {
            return;
        };
        let d = self.clone();
        let i = id.to_owned();
        blocking(move || {
            d.net_down(&i);
            if let Err(e) = d.images.snapshotter().remove(&i) {
                eprintln!("dockermindd: remove snapshot of {i}: {e}");
            }
            let _ = std::fs::remove_dir_all(d.container_dir(&i));
            let _ = std::fs::remove_dir_all(d.bundle(&i));
            // The last container gone: what running them allocated goes back to the kernel.
            if d.ctrs().is_empty() {
                crate::daemon::release_free_memory();
            }
        })
        .await;
        // As dockerd: --rm takes the container's anonymous volumes with it.
        if en.rec.host_config.auto_remove {
            self.drop_anonymous_volumes(&en.rec.mount_points);
        }
        self.emit_container(&en.rec, "destroy", &[]);
        en.phase.send_modify(|p| p.removed = true);
    }

    /// Loads the records; running containers get their shims back (or are marked exited).
    pub async fn recover(self: &Arc<Self>) {
        let recs = Record::load_all(&self.cfg.root.join("containers"));
        for mut rec in recs {
            if rec.state.restarting {
                // Its restart was pending: it is simply stopped now (restart_on_boot decides).
                rec.state.restarting = false;
                rec.state.running = false;
                rec.state.status = "exited".into();
            }
            let id = rec.id.clone();
            let was_running =
                rec.state.running || matches!(rec.state.status.as_str(), "starting" | "exiting");
            let address = rec.shim_address.clone();
            self.ctrs().insert(
                id.clone(),
                Entry {
                    rec,
                    hub: None,
                    stdin: watch::channel(None).0,
                    phase: watch::channel(Phase::default()).0,
                    shim: None,
                    life: Default::default(),
                },
            );
            if !was_running {
                continue;
            }
            if let Some(en) = self.ctrs().get_mut(&id) {
                en.rec.state.running = true;
                en.rec.state.status = "running".into();
            }
            let (a, i) = (address, id.clone());
            let state = blocking(move || {
                let s = Shim::connect(&a)?;
                let st = s.state(&i)?;
                Ok::<_, shim::ShimError>((s, st))
            })
            .await;
            match state {
                Ok((s, st)) if st.status.enum_value_or_default() != TaskStatus::STOPPED => {
                    if let Some(en) = self.ctrs().get_mut(&id) {
                        en.shim = Some(s);
                        if st.status.enum_value_or_default() == TaskStatus::PAUSED {
                            en.rec.state.status = "paused".into();
                        }
                    }
                    let rec = match self.record(&id) {
                        Ok(r) => r,
                        Err(_) => continue,
                    };
                    let fifos = Fifos::paths(
                        &self.bundle(&id),
                        "init",
                        rec.config.open_stdin,
                        rec.config.tty,
                    );
                    if let Err(e) = self.attach_io(&id, &fifos) {
                        eprintln!("dockermindd: container {id}: reopen stdio: {e}");
                    }
                    self.monitor_health(&id);
                }
                Ok((s, st)) => {
                    if let Some(en) = self.ctrs().get_mut(&id) {
                        en.shim = Some(s);
                    }
                    self.on_exit_with(&id, st.exit_status as i32, false).await;
                }
                Err(e) => {
                    eprintln!("dockermindd: container {id}: shim gone ({e}); marking it exited");
                    self.on_exit_with(&id, 255, false).await;
                }
            }
        }
    }
}

/// A signal by name (`SIGTERM`, `TERM`) or number.
pub fn parse_signal(s: &str) -> ApiResult<u32> {
    if let Ok(n) = s.parse::<u32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let name = s.to_ascii_uppercase();
    let name = if name.starts_with("SIG") {
        name
    } else {
        format!("SIG{name}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|sig| sig as u32)
        .map_err(|_| ApiError::bad(format!("Invalid signal: {s}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_signals_are_checked_like_docker() {
        assert!(valid_name("web-1.a_b"));
        assert!(!valid_name("-bad") && !valid_name("a") && !valid_name("sp ace"));
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("1").unwrap(), 1);
        assert!(parse_signal("NOPE")
            .unwrap_err()
            .message
            .contains("Invalid signal"));
    }
}
