#!/usr/bin/env bash
# Builds the fuzz targets with clang (ASan+UBSan, libFuzzer) and runs each for SECONDS (default
# 60) from seeds made of the shared vectors; a crash, hang or sanitizer report fails the run.
#   fuzz/run.sh [SECONDS] [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
build=${2:-$root/build-fuzz}
vectors=$root/tests/data/vectors
CXX=${CXX:-clang++-14} cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS="-gline-tables-only" -DMPC_COMM_FUZZ=ON -DMPC_COMM_SANITIZE=address,undefined -DMPC_COMM_BUILD_TESTS=OFF \
  -DMPC_COMM_BUILD_TOOLS=OFF -DMPC_COMM_BUILD_EXAMPLES=OFF -DMPC_COMM_INSTALL=OFF > /dev/null
cmake --build "$build" --target fuzz_decode fuzz_request
python3 "$root/fuzz/make_seeds.py" "$vectors" "$build/seeds"
for target in fuzz_decode fuzz_request; do
  corpus=$build/corpus/$target
  mkdir -p "$corpus"
  seeds=$build/seeds/${target#fuzz_}
  echo "== $target: $seconds s"
  # -timeout: one input may not take longer (a hang is a finding); rss bounded for leaks.
  "$build/fuzz/$target" "$corpus" "$seeds" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
    -max_len=65536 -print_final_stats=1 2>&1 |
    grep -E "^#|stat::|ERROR|SUMMARY|Done|crash|leak|fuzz_request:|terminate" | tail -n 12
  test "${PIPESTATUS[0]}" -eq 0
done
