#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this and nothing else):
#   1. install dependencies (Debian 12), and the Python reference from PyPI into a venv
#   2. clang-format check                    5. install, and build a consumer project against it
#   3. warnings-as-errors build              6. ASan+UBSan (codec, CLI, pool) and TSan (pool) runs
#   4. ctest: unit, vector, CLI, pool, interop, and the greeting example as two processes
#   7. the benchmarks build and run once, briefly
# Build trees live in build-ci/ (reused between runs; ccache makes rebuilds cheap).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc)
out=build-ci
export CCACHE_NOHASHDIR=true  # objects are shared between build directories (the Python package)

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
./scripts/install-deps.sh

step "clang-format"
mapfile -t sources < <(git ls-files '*.cpp' '*.hpp' 2>/dev/null || find include src tools tests bench examples -name '*.[ch]pp')
clang-format --dry-run -Werror "${sources[@]}"
echo "formatted: ${#sources[@]} files"

step "the Python reference, for the interop tests"
./scripts/setup-python-ref.sh "$out/pyref"
./scripts/setup-python-ref.sh "$out/pyref412" 4.12.0
./scripts/setup-python-ref.sh "$out/pyref5" 5.0.4

step "build (-Werror)"
cmake -S . -B "$out/main" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMPC_COMM_WERROR=ON \
  -DMPC_COMM_BUILD_BENCHMARKS=ON -DCMAKE_INSTALL_PREFIX="$root/$out/prefix" \
  -DMPC_COMM_PYTHON="$root/$out/pyref/bin/python" -DMPC_COMM_PYTHON5="$root/$out/pyref5/bin/python" \
  -DMPC_COMM_PYTHON412="$root/$out/pyref412/bin/python" \
  > /dev/null
cmake --build "$out/main" -j "$jobs"

step "tests"
ctest --test-dir "$out/main" --output-on-failure -j "$jobs"

step "install and build a consumer project"
rm -rf "$out/prefix" "$out/consumer"
cmake --install "$out/main" > /dev/null
cmake -S tests/consumer -B "$out/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$root/$out/prefix" > /dev/null
cmake --build "$out/consumer"
"$out/consumer/consumer"

step "the Python package: pip install ., its tests, and the reference's own suite on the engine"
# Built with the main build's flags, so that ccache serves the library's objects (the build
# directories differ: CCACHE_NOHASHDIR above).
./scripts/setup-python-package.sh "$out/pypkg" --config-settings=build-dir="$root/$out/python" \
  --config-settings=cmake.build-type=RelWithDebInfo --config-settings=cmake.define.MPC_COMM_WERROR=ON
"$out/pypkg/bin/python" -m pytest python/tests -q -p no:cacheprovider
reference_suite=(--pyargs tno.mpc.communication pytest_tno.tno.mpc.communication -p no:cacheprovider -q)
echo "the reference's suite on the reference:"
"$out/pypkg/bin/python" -m pytest "${reference_suite[@]}" | tail -n 1
echo "the reference's suite on the engine:"
"$out/pypkg/bin/python" -m mpc_comm.run -m pytest "${reference_suite[@]}" | tail -n 1
tests/interop/secure_sum_mixed.sh "$out/pypkg/bin/python" "$out/main/examples" "mpc py cpp"

step "ASan+UBSan: the whole test suite"
cmake -S . -B "$out/asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMPC_COMM_WERROR=ON \
  -DMPC_COMM_SANITIZE=address,undefined -DMPC_COMM_BUILD_EXAMPLES=OFF \
  -DMPC_COMM_PYTHON="$root/$out/pyref/bin/python" -DMPC_COMM_PYTHON5="$root/$out/pyref5/bin/python" \
  -DMPC_COMM_PYTHON412="$root/$out/pyref412/bin/python" \
  > /dev/null
cmake --build "$out/asan" -j "$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$out/asan" --output-on-failure -j "$jobs"

step "TSan: the mailbox, pool and TLS tests"
cmake -S . -B "$out/tsan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMPC_COMM_WERROR=ON \
  -DMPC_COMM_SANITIZE=thread -DMPC_COMM_BUILD_EXAMPLES=OFF > /dev/null
cmake --build "$out/tsan" -j "$jobs" --target unit_tests pool_tests tls_tests hostile_input_tests
TSAN_OPTIONS="halt_on_error=1 suppressions=$root/scripts/tsan-suppressions.txt" ctest --test-dir "$out/tsan" --output-on-failure -j "$jobs" -L 'unit|pool'


step "fuzzing: a short run of each target (clang, libFuzzer, ASan+UBSan)"
./fuzz/run.sh 30 "$root/$out/fuzz"

step "examples and benchmarks (one short run each; figures, not asserts)"
"$out/main/examples/codec_tour"
"$out/main/bench/bench_codec" --benchmark_min_time=0.01 > "$out/bench.txt"
tail -n 12 "$out/bench.txt"
"$out/main/bench/bench_pool" --benchmark_min_time=0.05 > "$out/bench_pool.txt"
tail -n 3 "$out/bench_pool.txt"
python3 bench/run_benchmarks.py --build "$out/main" --python "$out/pyref/bin/python" --quick \
  --out "$out/bench-quick" | grep -v '^python'  # keeps the script working; figures are not kept

step "all tests passed"
