#!/usr/bin/env bash
# Installs, from Debian's packages, whatever m2wo needs to build and test and
# is not there yet. Runs apt-get only when something is missing.
set -euo pipefail

packages=(
	build-essential autoconf automake pkg-config
	libgmime-3.0-dev libglib2.0-dev libpcre2-dev libcurl4-openssl-dev
	libjson-c-dev libxml2-dev
	python3 openssl ca-certificates
	"$@"
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "m2wo: missing packages: ${missing[*]}; run as root (sudo $0)" >&2
	exit 1
fi
echo "m2wo: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
