#!/usr/bin/env bash
# Installs everything needed to build and test tno-mpc-communication on Debian 12 (bookworm).
#
# Why these packages: Boost 1.81 (not the default 1.74) for Asio/Beast; msgpuck for msgpack
# because Debian's libmsgpack-cxx-dev drags in Boost 1.74 and conflicts with 1.81; nlohmann-json
# for the CLI's neutral JSON form; clang 14 and its runtime only for the libFuzzer targets (fuzz/);
# python3-venv and python3-dev for the Python package (pip install .); valgrind for the
# benchmarks' instruction counts (callgrind).
# Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libssl-dev openssl
  libmsgpuck-dev libspdlog-dev libfmt-dev libgmp-dev
  libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format python3 python3-venv python3-dev
  clang-14 libclang-rt-14-dev
  valgrind
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
