# Sourced by the shell tests: a scratch directory that goes away with the test (and the test's
# background parties with it), named checks, and the summary that decides the exit status.
#   check "what" STATUS     counts STATUS 0 as passed, anything else as failed (and says which)
#   finish                  prints the counts; succeeds only when nothing failed
#   require_python PY [MODULES]   exits 77 (skipped, with a message) when PY cannot import
#                                 tno.mpc.communication (and MODULES, e.g. OpenSSL), or when
#                                 MPC_COMM_PYTHON_REF_VERSION is set (e.g. "4.12.") and PY's
#                                 package version does not start with it
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
passed=0
failed=0
check() { if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1"; fi; }
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
}
require_python() {
  local modules="tno.mpc.communication${2:+, $2}"
  "$1" -c "import $modules" 2>/dev/null || {
    echo "SKIPPED: $1 cannot import $modules; run scripts/setup-python-ref.sh"
    exit 77
  }
  local want=${MPC_COMM_PYTHON_REF_VERSION:-} have
  [ -n "$want" ] || return 0
  have=$("$1" -c 'import importlib.metadata as m; print(m.version("tno.mpc.communication"))')
  case $have in
    "$want"*) ;;
    *) echo "SKIPPED: $1 has tno.mpc.communication $have, this test wants $want*"; exit 77 ;;
  esac
}
