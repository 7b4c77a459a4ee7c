#!/usr/bin/env bash
# Unpacks Debian 13 (trixie) packages into a private directory, without touching the system's
# apt configuration or installed packages: a private sources list, package lists and download
# dir, then `dpkg -x`. Tests run the binaries from there next to Debian 12's.
#   trixie.sh PKG...   ->  $DM_TRIXIE_DIR/PKG/usr/bin/... (default /var/cache/dockermind/trixie)
# Idempotent: a package whose stamp names the candidate version is not fetched again.
set -euo pipefail
dir=${DM_TRIXIE_DIR:-/var/cache/dockermind/trixie}
apt_dir="$dir/.apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/debs"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
  > "$apt_dir/sources.list"
apt_opts=(-q -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$apt_dir/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
# Lists older than a day are refreshed; a run without network keeps using what it has.
if [ -z "$(find "$apt_dir/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null)" ]; then
  apt-get "${apt_opts[@]}" update >/dev/null
fi
for pkg in "$@"; do
  version=$(apt-cache "${apt_opts[@]}" policy "$pkg" | awk '/Candidate:/ {print $2}')
  [ -n "$version" ] && [ "$version" != "(none)" ] || { echo "trixie.sh: no $pkg in trixie" >&2; exit 1; }
  if [ "$(cat "$dir/$pkg/.version" 2>/dev/null)" = "$version" ]; then continue; fi
  rm -rf "$dir/$pkg" "$apt_dir/debs"/*.deb
  (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" download "$pkg=$version" >/dev/null 2>&1)
  dpkg -x "$apt_dir/debs/${pkg}_"*.deb "$dir/$pkg"
  echo "$version" > "$dir/$pkg/.version"
  rm -f "$apt_dir/debs"/*.deb
done
