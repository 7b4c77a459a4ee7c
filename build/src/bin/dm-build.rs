//! `dm-build`: builds a Dockerfile into dm-image's store.

use anyhow::Context;
use clap::Parser;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Build an image from a Dockerfile.
#[derive(Parser)]
#[command(name = "dm-build", version)]
struct Cli {
    /// The image store's root.
    #[arg(long, default_value = dm_image::DEFAULT_ROOT)]
    root: PathBuf,
    /// Name (and tag) for the image; repeatable.
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// The Dockerfile (default CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// A build argument NAME=VALUE; repeatable.
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// The stage to build.
    #[arg(long)]
    target: Option<String>,
    /// Run every step, ignoring the cache.
    #[arg(long)]
    no_cache: bool,
    /// The dm-runc binary (default: next to dm-build, else on PATH).
    #[arg(long)]
    runtime: Option<PathBuf>,
    /// Also write the result to FILE: one tar that is an OCI image layout and a `docker save`
    /// archive (needs -t: the archive names the image).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print only the image id.
    #[arg(short, long)]
    quiet: bool,
    /// Compression of new layers: gzip, or zstd (smaller and faster; needs containerd 1.5+,
    /// docker 23+ or podman to pull).
    #[arg(long, default_value = "gzip")]
    compression: dm_build::Compression,
    /// Export the build cache: `type=local,dest=DIR`.
    #[arg(long = "cache-to", value_parser = |v: &str| dm_build::CacheRef::parse("--cache-to", v))]
    cache_to: Option<dm_build::CacheRef>,
    /// Import a build cache first: `type=local,src=DIR`; repeatable.
    #[arg(long = "cache-from", value_parser = |v: &str| dm_build::CacheRef::parse("--cache-from", v))]
    cache_from: Vec<dm_build::CacheRef>,
    /// The build context directory.
    context: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut build_args = BTreeMap::new();
    for a in &cli.build_args {
        let (k, v) = a
            .split_once('=')
            .with_context(|| format!("--build-arg {a:?}: expected NAME=VALUE"))?;
        build_args.insert(k.to_owned(), v.to_owned());
    }
    let runtime = cli.runtime.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join("dm-runc")))
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("dm-runc"))
    });
    let images = dm_image::Images::open(&cli.root, Default::default())
        .with_context(|| format!("open image store {}", cli.root.display()))?;
    let opts = dm_build::Options {
        context: cli.context.clone(),
        dockerfile: cli.file.clone(),
        tags: cli.tags.clone(),
        build_args,
        target: cli.target.clone(),
        no_cache: cli.no_cache,
        runtime,
        compression: cli.compression,
        cache_to: cli.cache_to.clone(),
        cache_from: cli.cache_from.clone(),
        labels: BTreeMap::new(),
    };
    if cli.output.is_some() && cli.tags.is_empty() {
        anyhow::bail!("--output needs a name for the image: add -t NAME");
    }
    let quiet = cli.quiet;
    let built = dm_build::build(&images, &opts, &mut |line| {
        if !quiet {
            println!("{line}");
        }
    })?;
    if !quiet {
        println!(
            "{} steps run, {} from cache, {} containers",
            built.ran, built.cached, built.containers
        );
        for t in &built.tags {
            println!("Successfully tagged {t}");
        }
    }
    if let Some(path) = &cli.output {
        let tmp = path.with_extension("partial");
        let f = std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        let saved = images.save(&built.tags, std::io::BufWriter::new(f));
        if let Err(e) = saved {
            let _ = std::fs::remove_file(&tmp);
            return Err(e).with_context(|| format!("write {}", path.display()));
        }
        std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
    }
    println!("{}", built.id);
    Ok(())
}
