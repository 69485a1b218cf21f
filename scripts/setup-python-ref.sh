#!/usr/bin/env bash
# Creates a virtual environment with the real Python reference from PyPI, for the interop tests:
#   setup-python-ref.sh DIR [VERSION]
# VERSION defaults to 4.8.1 (the seed's major version); the suite also runs against the newest
# 4.x release, 4.12.0, and the newest release, 5.0.4 (docs/python-versions.md). The extras: gmpy,
# bitarray, numpy and tls; ormsgpack comes with the package.
set -euo pipefail
dir=${1:-build-ci/pyref}
version=${2:-4.8.1}
if [ ! -x "$dir/bin/python" ]; then python3 -m venv "$dir"; fi
if ! "$dir/bin/python" -c "
import importlib.metadata as m, gmpy2, bitarray, numpy, OpenSSL
assert m.version('tno.mpc.communication') == '$version'" 2>/dev/null; then
  "$dir/bin/pip" install -q --disable-pip-version-check \
    "tno.mpc.communication[gmpy,bitarray,numpy,tls]==$version"
fi
"$dir/bin/python" -c 'import importlib.metadata as m; print("python reference:", m.version("tno.mpc.communication"), "ormsgpack", m.version("ormsgpack"))'
