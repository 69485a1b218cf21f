#!/usr/bin/env bash
# Creates a virtual environment with the real Python reference (tno.mpc.communication 4.8.1 and
# the real ormsgpack) from PyPI, for the interop tests. Usage: setup-python-ref.sh DIR
set -euo pipefail
dir=${1:-build-ci/pyref}
if [ ! -x "$dir/bin/python" ]; then python3 -m venv "$dir"; fi
if ! "$dir/bin/python" -c 'import tno.mpc.communication, gmpy2, bitarray, numpy, OpenSSL' 2>/dev/null; then
  "$dir/bin/pip" install -q --disable-pip-version-check \
    'tno.mpc.communication[gmpy,bitarray,numpy,tls]==4.8.1'
fi
"$dir/bin/python" -c 'import importlib.metadata as m; print("python reference:", m.version("tno.mpc.communication"), "ormsgpack", m.version("ormsgpack"))'
