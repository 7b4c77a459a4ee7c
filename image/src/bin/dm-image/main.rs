//! `dm-image`: pull and manage images from the command line (scripting and tests; the daemon
//! embeds the library).

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use dm_image::{
    AuthFile, ClientOptions, Images, Platform, Progress, PullOptions, PushOptions, Reference,
    RegistryConfig, DEFAULT_ROOT,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod output;
mod progress;

use output::{list, save};
use progress::progress;

const DEFAULT_REGISTRY_CONFIG: &str = "/etc/dockermind/registries.json";

#[derive(Parser)]
#[command(name = "dm-image", version, about = "Pull and manage container images")]
struct Cli {
    /// Root of the content store, snapshots and image records.
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    root: PathBuf,
    /// Registry mirrors and insecure / plain-HTTP registries (JSON).
    #[arg(long, global = true)]
    registry_config: Option<PathBuf>,
    /// docker-style credentials file (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json).
    #[arg(long, global = true)]
    auth_file: Option<PathBuf>,
    /// Seconds a registry may stay silent before a request fails.
    #[arg(long, global = true, default_value_t = 60)]
    timeout: u64,
    /// Progress output: plain lines, or one JSON object per line.
    #[arg(long, global = true, default_value = "plain", value_parser = ["plain", "json"])]
    progress: String,
    /// Log debug messages to stderr.
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Download an image and unpack its layers.
    Pull {
        /// Platform to pick from a multi-platform image (os/arch[/variant]).
        #[arg(long, default_value = "linux/amd64")]
        platform: String,
        /// Most layers downloaded at once.
        #[arg(long, default_value_t = 3)]
        concurrency: usize,
        /// Print only the image digest.
        #[arg(short, long)]
        quiet: bool,
        /// Image reference (busybox, host:port/repo:tag, name@sha256:...).
        image: String,
    },
    /// Upload an image to a registry.
    Push {
        /// Blobs up to this many bytes go in one request; larger ones in chunks of this size.
        #[arg(long, default_value_t = 16 << 20)]
        chunk_size: u64,
        /// Most blobs uploaded at once.
        #[arg(long, default_value_t = 3)]
        concurrency: usize,
        /// Local name or id.
        image: String,
        /// Where to push it (default: its own name).
        target: Option<String>,
    },
    /// Write images to a tar that is both an OCI image layout and a `docker save` archive.
    Save {
        /// Output file (default: stdout); written to a temp file, then renamed.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Names or ids.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Load images from an OCI layout tar or a `docker save` archive.
    Load {
        /// Input file (default: stdin).
        #[arg(short, long)]
        input: Option<PathBuf>,
        /// Name for OCI entries that carry only a tag (`<base-name>:<tag>`).
        #[arg(long)]
        base_name: Option<String>,
        /// Platform to pick when an entry is a multi-platform index.
        #[arg(long, default_value = "linux/amd64")]
        platform: String,
    },
    /// Download an image's manifest, config and layers into the content store only (no
    /// unpack, no name), as `ctr content fetch` does.
    Fetch {
        /// Platform to pick from a multi-platform image (os/arch[/variant]).
        #[arg(long, default_value = "linux/amd64")]
        platform: String,
        /// Most layers downloaded at once.
        #[arg(long, default_value_t = 3)]
        concurrency: usize,
        /// Image reference.
        image: String,
    },
    /// List images.
    #[command(alias = "list")]
    Images {
        /// Print only names.
        #[arg(short, long)]
        quiet: bool,
        /// Output format: table or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Show config, history, layers and sizes of images (JSON).
    Inspect {
        /// Names or ids.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Give an image another name.
    Tag {
        /// Existing name or id.
        source: String,
        /// New name.
        target: String,
    },
    /// Remove image names, and the content and snapshots no other name uses.
    #[command(alias = "rmi")]
    Rm {
        /// Names or ids.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Delete blobs, snapshots and interrupted downloads no image name uses.
    Prune,
    /// Make a writable snapshot on top of an image and mount it (a container rootfs).
    Mount {
        /// Name or id.
        image: String,
        /// Snapshot key (unique per rootfs).
        key: String,
        /// Where to mount it.
        target: PathBuf,
    },
    /// Unmount a rootfs made by `mount` and remove its snapshot.
    Unmount {
        /// Where it is mounted.
        target: PathBuf,
        /// Its snapshot key.
        key: String,
    },
}

fn main() {
    let cli = Cli::parse();
    let level = if cli.debug { "debug" } else { "warn" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
    if let Err(e) = run(cli) {
        // Library errors already print their source; only add causes not yet shown.
        let mut msg = e.to_string();
        for cause in e.chain().skip(1) {
            let c = cause.to_string();
            if !msg.contains(&c) {
                msg.push_str(": ");
                msg.push_str(&c);
            }
        }
        eprintln!("dm-image: {msg}");
        std::process::exit(1);
    }
}

fn client_options(cli: &Cli) -> Result<ClientOptions> {
    let config = match &cli.registry_config {
        Some(p) => RegistryConfig::load(p, false)?,
        None => RegistryConfig::load(Path::new(DEFAULT_REGISTRY_CONFIG), true)?,
    };
    let auth = match (&cli.auth_file, AuthFile::default_path()) {
        (Some(p), _) => AuthFile::load(p, false)?,
        (None, Some(p)) => AuthFile::load(&p, true)?,
        (None, None) => AuthFile::default(),
    };
    if cli.timeout == 0 {
        bail!("--timeout must be at least 1 second");
    }
    Ok(ClientOptions {
        config,
        auth,
        read_timeout: Duration::from_secs(cli.timeout),
        connect_timeout: Duration::from_secs(cli.timeout.min(30)),
        ..Default::default()
    })
}

fn run(cli: Cli) -> Result<()> {
    let opts = client_options(&cli)?;
    let json = cli.progress == "json";
    // Checked before the store is opened, so bad arguments leave nothing behind.
    if let Cmd::Pull {
        image,
        platform,
        concurrency,
        ..
    } = &cli.cmd
    {
        image.parse::<Reference>()?;
        platform.parse::<Platform>().context("--platform")?;
        if *concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
    }
    if let Cmd::Push {
        target: Some(t),
        chunk_size,
        concurrency,
        ..
    } = &cli.cmd
    {
        t.parse::<Reference>()?;
        if *chunk_size == 0 || *concurrency == 0 {
            bail!("--chunk-size and --concurrency must be at least 1");
        }
    }
    if let Cmd::Load {
        base_name,
        platform,
        input,
        ..
    } = &cli.cmd
    {
        base_name
            .as_ref()
            .map(|b| b.parse::<Reference>())
            .transpose()
            .context("--base-name")?;
        platform.parse::<Platform>().context("--platform")?;
        if let Some(i) = input {
            std::fs::metadata(i).with_context(|| format!("--input {}", i.display()))?;
        }
    }
    // The snapshotter's mounts need absolute paths; a relative --root means from here.
    let root =
        std::path::absolute(&cli.root).with_context(|| format!("--root {}", cli.root.display()))?;
    let images = Images::open(&root, opts)
        .with_context(|| format!("open image store at --root {}", root.display()))?;
    match cli.cmd {
        Cmd::Pull {
            platform,
            concurrency,
            quiet,
            image,
        } => {
            let reference: Reference = image.parse()?;
            let opts = PullOptions {
                platform: platform.parse()?,
                concurrency,
            };
            let progress = if quiet {
                Progress::default()
            } else {
                progress(json)
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let rec = rt.block_on(images.pull(&reference, &opts, &progress))?;
            if quiet {
                println!("{}", rec.target);
            } else if json {
                let done =
                    serde_json::json!({"status": "pulled", "id": rec.target, "name": rec.name});
                println!("{done}");
            } else {
                println!("Digest: {}", rec.target);
                println!("{}", rec.name);
            }
        }
        Cmd::Push {
            chunk_size,
            concurrency,
            image,
            target,
        } => {
            let target = target.map(|t| t.parse::<Reference>()).transpose()?;
            let opts = PushOptions {
                chunk_size,
                concurrency,
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let digest =
                rt.block_on(images.push(&image, target.as_ref(), &opts, &progress(json)))?;
            println!("Digest: {digest}");
        }
        Cmd::Save {
            output,
            images: names,
        } => save(&images, &names, output.as_deref())?,
        Cmd::Load {
            input,
            base_name,
            platform,
        } => {
            let base = base_name.map(|b| b.parse::<Reference>()).transpose()?;
            let platform: Platform = platform.parse()?;
            let progress = progress(json);
            let loaded = match input {
                Some(p) => {
                    let f = std::fs::File::open(&p)
                        .with_context(|| format!("--input {}", p.display()))?;
                    images.load(
                        std::io::BufReader::new(f),
                        base.as_ref(),
                        &platform,
                        &progress,
                    )?
                }
                None => {
                    images.load(std::io::stdin().lock(), base.as_ref(), &platform, &progress)?
                }
            };
            for r in loaded {
                println!("Loaded image: {}", r.name);
            }
        }
        Cmd::Fetch {
            platform,
            concurrency,
            image,
        } => {
            let reference: Reference = image.parse()?;
            let opts = PullOptions {
                platform: platform.parse()?,
                concurrency,
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let pulled = rt.block_on(images.fetch(&reference, &opts, &progress(json)))?;
            println!("Digest: {}", pulled.manifest.digest);
        }
        Cmd::Images { quiet, format } => list(&images, quiet, &format)?,
        Cmd::Inspect { images: names } => {
            let mut out = Vec::new();
            for n in &names {
                out.push(images.inspect(n)?);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Cmd::Tag { source, target } => {
            images.tag(&source, &target)?;
        }
        Cmd::Rm { images: names } => {
            for n in &names {
                let r = images.remove(n)?;
                println!("Untagged: {}", r.untagged);
                for d in r.blobs.iter().chain(&r.snapshots) {
                    println!("Deleted: {d}");
                }
            }
        }
        Cmd::Prune => {
            let r = images.prune()?;
            for d in r.blobs.iter().chain(&r.snapshots) {
                println!("Deleted: {d}");
            }
        }
        Cmd::Mount { image, key, target } => {
            let mounts = images.prepare(&image, &key)?;
            if let Err(e) = dm_image::rootfs::mount(&mounts, &target) {
                let _ = images.snapshotter().remove(&key);
                return Err(e.into());
            }
        }
        Cmd::Unmount { target, key } => {
            dm_image::rootfs::unmount(&target)?;
            images.snapshotter().remove(&key)?;
        }
    }
    Ok(())
}
