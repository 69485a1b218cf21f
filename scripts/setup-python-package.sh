#!/usr/bin/env bash
# Makes a virtual environment with the Python package of this repository (pip install .) and what
# its tests need: the reference tno.mpc.communication 4.8.1 with its extras, pytest, and the
# versions of pandas, pyarrow and numpy that the reference's own test suite passes with.
#   setup-python-package.sh DIR [PIP_INSTALL_ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.venv}
shift || true
if [ ! -x "$dir/bin/python" ]; then python3 -m venv "$dir"; fi
"$dir/bin/pip" install -q --disable-pip-version-check \
  "tno.mpc.communication[gmpy,bitarray,numpy,tls]==4.8.1" "pandas==1.5.3" "pyarrow==15.0.2" \
  "numpy==1.26.4" "pytest==8.4.2" "pytest-asyncio==1.5.0" "pytest-timeout==2.4.0"
"$dir/bin/pip" install -q --disable-pip-version-check "$@" .
"$dir/bin/python" -c 'import mpc_comm, importlib.metadata as m; print("mpc_comm", m.version("mpc_comm"), "on tno.mpc.communication", m.version("tno.mpc.communication"))'
