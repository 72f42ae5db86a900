#!/usr/bin/env bash
# Installs what is missing, builds m2wo, starts the local OutSmart simulator
# and pipes a sample service request through m2wo, showing the work order.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh
bash tools/build.sh
exec python3 tools/demo.py
