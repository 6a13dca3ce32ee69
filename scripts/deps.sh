#!/bin/sh
# Installs the Debian packages the build and the tests need.
#   scripts/deps.sh          install what is missing (needs root)
#   scripts/deps.sh --check  only say what is missing; exit 1 if anything is
set -eu

PKGS="apache2 apache2-dev libapr1-dev libaprutil1-dev check pkg-config \
libssl-dev curl make gcc wrk"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    echo "missing Debian packages:$missing" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages:$missing" >&2
    echo "run as root:  apt-get install -y$missing" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The apache2 package starts a system instance where it can; the project
# never uses it (every test and the demo run their own on high ports).
