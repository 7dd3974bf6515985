#!/usr/bin/env bash
# Makes sure the servers the tests need can be had: PostgreSQL and Redis either
# answer on their default ports (or at PLATTR_TEST_PG_URL / PLATTR_TEST_REDIS_URL),
# or their Debian packages are installed so the tests can start private ones.
# Installs what is missing when run as root; otherwise says what to install.
set -euo pipefail
missing=()
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -z "${PLATTR_TEST_PG_URL:-}" ] && ! answers 5432; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing+=(postgresql)
fi
if [ -z "${PLATTR_TEST_REDIS_URL:-}" ] && ! answers 6379; then
  command -v redis-server >/dev/null || missing+=(redis-server)
fi
command -v git >/dev/null || missing+=(git)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "the tests need: ${missing[*]}. Install them (Debian: sudo apt-get install -y ${missing[*]})," >&2
  echo "or point the tests at servers with PLATTR_TEST_PG_URL and PLATTR_TEST_REDIS_URL." >&2
  exit 1
fi
echo "installing ${missing[*]} for the tests (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packages' own services are not needed: the tests start private servers.
