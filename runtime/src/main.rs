//! dm-runc's entry point: parse the runc-style command line, run it, report errors as runc.

use clap::Parser;
use dm_runtime::cli::{Cli, Command};
use dm_runtime::commands::{create, exec, info, lifecycle, resources, run};
use dm_runtime::log;

fn main() {
    // Container processes start as forks of this process, so the commands that make them run
    // from a binary no container can write (selfexe). Decided from the raw arguments, before
    // the parse: the re-executed process then parses only once. A container named like a
    // command only costs a needless re-exec; a failure counts only for those commands.
    let protected = if std::env::args_os()
        .skip(1)
        .any(|a| SPAWNING.iter().any(|c| a == *c))
    {
        dm_runtime::selfexe::protect()
    } else {
        Ok(())
    };
    let cli = Cli::parse();
    if cli.version {
        println!(
            "dm-runc version {}\nspec: {}",
            env!("CARGO_PKG_VERSION"),
            dm_runtime::state::OCI_VERSION
        );
        return;
    }
    if let Err(e) = log::init(cli.log.as_deref(), cli.log_format, cli.debug) {
        eprintln!("--log: {e}");
        std::process::exit(1);
    }
    let code = match dispatch(&cli, protected) {
        Ok(code) => code,
        Err(e) => {
            // Every error of the crate already says its cause; the alternate form would
            // repeat it ("...: EPERM: Operation not permitted: EPERM: Operation not permitted").
            let msg = format!("{e}");
            log::error(&msg);
            if log::has_file() {
                eprintln!("{msg}");
            }
            1
        }
    };
    std::process::exit(code);
}

/// The commands that make container processes.
const SPAWNING: [&str; 3] = ["create", "run", "exec"];

fn dispatch(cli: &Cli, protected: dm_runtime::error::Result<()>) -> anyhow::Result<i32> {
    let root_buf = cli.state_root();
    let root = root_buf.as_path();
    let Some(cmd) = &cli.command else {
        anyhow::bail!("no command given; see --help");
    };
    if matches!(cmd, Command::Create(_) | Command::Run(_) | Command::Exec(_)) {
        protected?;
    }
    match cmd {
        Command::Spec(a) => info::spec(a.bundle.as_deref(), a.rootless)?,
        Command::Create(a) => {
            create::create(root, a, false, cli.systemd_cgroup)?;
        }
        Command::Start(a) => lifecycle::start(root, &a.id)?,
        Command::Run(a) => return Ok(run::run(root, a, cli.systemd_cgroup)?),
        Command::State(a) => info::state(root, &a.id)?,
        Command::List(a) => info::list(root, &a.format, a.quiet)?,
        Command::Kill(a) => lifecycle::kill(root, &a.id, a.signal.as_deref(), a.all)?,
        Command::Delete(a) => lifecycle::delete(root, &a.id, a.force)?,
        Command::Exec(a) => return Ok(exec::exec(root, a)?),
        Command::Ps(a) => info::ps(root, &a.id, &a.format, &a.ps_args)?,
        Command::Features => info::features()?,
        Command::Pause(a) => lifecycle::pause(root, &a.id)?,
        Command::Resume(a) => lifecycle::resume(root, &a.id)?,
        Command::Update(a) => resources::update(root, a)?,
        Command::Events(a) => resources::events(root, a)?,
    }
    Ok(0)
}
