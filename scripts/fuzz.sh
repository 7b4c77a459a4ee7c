#!/usr/bin/env bash
# Fuzzes dm-runc's config.json loader and seccomp compiler with cargo-fuzz (libFuzzer) for a
# bounded time per target. Not part of CI: it needs the nightly toolchain.
#
#   ./scripts/fuzz.sh                 # every target, 60 s each
#   FUZZ_SECONDS=300 ./scripts/fuzz.sh seccomp
#
# Env: FUZZ_SECONDS (per target, default 60), FUZZ_JOBS (parallel workers per target, default 1),
# FUZZ_SANITIZER (address|none|..., default address), FUZZ_TOOLCHAIN (default nightly).
# Exits non-zero when a target crashes, panics, times out or runs out of memory; the input that
# did it is kept under runtime/fuzz/artifacts/<target>/ (replay: cargo +nightly fuzz run <target>
# <file>, from runtime/fuzz). New corpus entries go to runtime/fuzz/target/corpus/<target>/;
# the committed seeds in runtime/fuzz/corpus/<target>/ are only read.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
fuzz_dir="$here/runtime/fuzz"
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
sanitizer=${FUZZ_SANITIZER:-address}
toolchain=${FUZZ_TOOLCHAIN:-nightly}
all_targets=(config config_paths seccomp seccomp_rules mount_options devices cgroup_resources)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

if ! cargo "+$toolchain" fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz
fi

# Run from the fuzz crate: cargo reads runtime/fuzz/.cargo/config.toml (which undoes the
# repository's +crt-static: sanitizer runtimes cannot link into a static executable) only when
# started below it. cargo-fuzz also replaces RUSTFLAGS, which drops the repository's
# target rustflags, so both ways the fuzz binaries link dynamically.
cd "$fuzz_dir"

cargo "+$toolchain" fuzz build --sanitizer "$sanitizer"

failed=()
for t in "${targets[@]}"; do
    work="$fuzz_dir/target/corpus/$t"
    seeds="$fuzz_dir/corpus/$t"
    mkdir -p "$work" "$seeds" "$fuzz_dir/artifacts/$t"
    args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
    case $t in
        config | config_paths | seccomp) args+=(-dict="$fuzz_dir/dict/json.dict" -max_len=16384) ;;
    esac
    if [ "$jobs" -gt 1 ]; then
        args+=(-fork="$jobs")
    fi
    echo "fuzz.sh: $t for ${seconds}s (corpus $work, seeds $seeds)" >&2
    if ! cargo "+$toolchain" fuzz run --sanitizer "$sanitizer" "$t" "$work" "$seeds" -- "${args[@]}"; then
        failed+=("$t")
    fi
done

echo >&2
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: FAILED: ${failed[*]}" >&2
    for t in "${failed[@]}"; do
        echo "  artefacts: $fuzz_dir/artifacts/$t/" >&2
        ls -1 "$fuzz_dir/artifacts/$t/" 2>/dev/null | sed 's/^/    /' >&2 || true
    done
    echo "  replay one: (cd $fuzz_dir && cargo +$toolchain fuzz run <target> <artefact>)" >&2
    exit 1
fi
echo "fuzz.sh: no crash in ${targets[*]} (${seconds}s each); artefacts would be in $fuzz_dir/artifacts/" >&2
