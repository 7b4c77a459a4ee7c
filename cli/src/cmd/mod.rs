//! The subcommands; each returns the process exit code.

pub mod container;
pub mod copy;
pub mod exec;
pub mod format;
pub mod image;
pub mod object;
pub mod run;
pub mod system;
pub mod update;

use crate::args::{Cli, Cmd};
use anyhow::Result;
use dm_cli::Client;

/// Runs the parsed command line against the daemon.
pub fn dispatch(c: &Client, cli: Cli) -> Result<i32> {
    match cli.cmd {
        Cmd::Run(a) => Ok(run::run(c, &a)),
        Cmd::Ps { all, quiet } => container::ps(c, all, quiet),
        Cmd::Logs {
            follow,
            tail,
            timestamps,
            container,
        } => container::logs(c, &container, follow, &tail, timestamps),
        Cmd::Exec(a) => exec::exec(c, &a),
        Cmd::Stop { time, containers } => container::stop(c, &containers, time),
        Cmd::Start { containers } => container::each(c, &containers, "start", ""),
        Cmd::Kill { signal, containers } => {
            let q = dm_cli::client::query(&[("signal", &signal)]);
            container::each(c, &containers, "kill", &q)
        }
        Cmd::Rm {
            force,
            volumes,
            containers,
        } => container::rm(c, &containers, force, volumes),
        Cmd::Images { quiet } => image::images(c, quiet),
        Cmd::Pull { image } => {
            image::pull(c, &image, &mut std::io::stdout())?;
            println!("{}", image::with_tag(&image));
            Ok(0)
        }
        Cmd::Push { image } => image::push(c, &image),
        Cmd::Build {
            tag,
            file,
            quiet,
            path,
        } => image::build(c, &path, file.as_deref(), &tag, quiet),
        Cmd::Save { output, images } => image::save(c, output.as_deref(), &images),
        Cmd::Load { input, quiet } => image::load(c, input.as_deref(), quiet),
        Cmd::History { quiet, image } => image::history(c, &image, quiet),
        Cmd::Tag { source, target } => image::tag(c, &source, &target),
        Cmd::Rmi { force, images } => image::rmi(c, &images, force),
        Cmd::Inspect { kind, objects } => object::inspect(c, kind.as_deref(), &objects),
        Cmd::Events {
            filter,
            since,
            until,
        } => system::events(c, &filter, since.as_deref(), until.as_deref()),
        Cmd::Cp {
            archive,
            follow_link,
            src,
            dst,
        } => copy::cp(c, &src, &dst, archive, follow_link),
        Cmd::Export { output, container } => copy::export(c, &container, output.as_deref()),
        Cmd::Update(a) => update::update(c, &a),
        Cmd::Volume(v) => object::volume(c, v),
        Cmd::Network(n) => object::network(c, n),
        Cmd::System(s) => system::system(c, s),
        Cmd::Version => system::version(c),
        Cmd::Info => system::info(c),
        Cmd::Completion { .. } => unreachable!("handled before connecting"),
    }
}
