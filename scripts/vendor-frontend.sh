#!/usr/bin/env bash
# Fetch the third-party front-end libraries from the npm registry at pinned
# versions and copy their built files, with their licences, into
# server/static/vendor/. The files there are committed and never edited by
# hand: change a version here and run this script again.
set -euo pipefail
cd "$(dirname "$0")/.."

# name version files-to-copy (paths inside the package)
packages=(
  "uplot 1.6.32 dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for entry in "${packages[@]}"; do
  read -r name version files <<<"$entry"
  echo "vendoring $name@$version"
  # npm pack checks the tarball against the registry's integrity hash.
  (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null)
  mkdir -p "$tmp/$name"
  tar -xzf "$tmp/$name-$version.tgz" -C "$tmp/$name"
  dest="server/static/vendor/$name"
  rm -rf "$dest"
  mkdir -p "$dest"
  for f in $files; do
    cp "$tmp/$name/package/$f" "$dest/"
  done
  printf '%s@%s from the npm registry, copied by scripts/vendor-frontend.sh\n' "$name" "$version" >"$dest/VERSION"
done
