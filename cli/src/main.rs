//! dockermind: a docker-like command line for dockermindd, over its Engine API.

mod args;
mod cmd;
mod term;

use args::{Cli, Cmd};
use clap::{CommandFactory, Parser};
use dm_cli::Client;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Help and --version go to stdout with 0; a bad flag or value is docker's 125.
            let code = if e.exit_code() == 0 { 0 } else { 125 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    if let Cmd::Completion { shell } = cli.cmd {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "dockermind",
            &mut std::io::stdout(),
        );
        return;
    }
    let client = match Client::from_host(cli.host.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dockermind: {e}");
            std::process::exit(125);
        }
    };
    let code = match cmd::dispatch(&client, cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e:#}");
            1
        }
    };
    std::process::exit(code);
}
