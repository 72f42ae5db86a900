#!/usr/bin/env bash
# Builds m2wo in the source tree: autoreconf and configure only when needed.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x configure ] || autoreconf -fi >/dev/null
[ -f Makefile ] || ./configure --enable-werror --quiet "$@"
make -s -j"$(nproc)"
