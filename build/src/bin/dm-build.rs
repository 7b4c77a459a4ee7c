//! `dm-build`: builds a Dockerfile into dm-image's store.

fn main() -> anyhow::Result<()> {
    Ok(())
}
