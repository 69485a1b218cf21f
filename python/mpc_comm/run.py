"""
Runs a Python program with tno.mpc.communication's Pool served by the engine:

    python -m mpc_comm.run script.py ARGS...
    python -m mpc_comm.run -m module ARGS...        (e.g. -m pytest)

as `python script.py ARGS...` and `python -m module ARGS...` would, with mpc_comm.install() done
before the program imports anything.
"""

from __future__ import annotations

import os
import runpy
import sys

from . import install

USAGE = "usage: python -m mpc_comm.run (script.py | -m module) [args...]"


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip() if __doc__ else USAGE)
        sys.exit(0 if argv else 2)
    install()
    if argv[0] == "-m":
        if len(argv) < 2:
            sys.exit(USAGE)
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        script = argv[0]
        sys.argv = argv
        sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
        runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
