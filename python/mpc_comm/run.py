"""
Runs a Python program with tno.mpc.communication's Pool served by the engine:

    python -m mpc_comm.run script.py ARGS...
    python -m mpc_comm.run -m module ARGS...        (e.g. -m pytest)

as `python script.py ARGS...` and `python -m module ARGS...` would, with mpc_comm.install() done
before the program imports anything.
"""

from __future__ import annotations

import gc
import os
import runpy
import sys

from . import install

USAGE = "usage: python -m mpc_comm.run (script.py | -m module) [args...]"


# glibc's malloc backs its large blocks with transparent huge pages when the process starts with
# this tunable: a 64 MiB message's bytes object then costs 32 page faults instead of 16,384 (which
# took three quarters of the time to unpack it). MPC_COMM_HUGE_PAGES=0 leaves malloc as it is.
_TUNABLE = "glibc.malloc.hugetlb=1"


def _with_huge_pages() -> None:
    """Starts this command again with the tunable, once, where the kernel offers huge pages."""
    if os.environ.get("MPC_COMM_HUGE_PAGES", "1") == "0" or not sys.platform.startswith("linux"):
        return
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" in tunables:
        return
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled", encoding="ascii") as setting:
            if "[never]" in setting.read():
                return
    except OSError:
        return
    env = dict(os.environ, GLIBC_TUNABLES=f"{tunables}:{_TUNABLE}" if tunables else _TUNABLE)
    os.execve(sys.executable, list(getattr(sys, "orig_argv", [sys.executable, "-m", __name__]
                                           + sys.argv[1:])), env)


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip() if __doc__ else USAGE)
        sys.exit(0 if argv else 2)
    _with_huge_pages()
    install()
    # What is loaded so far (the reference, its plugins, numpy, pandas...) lives as long as the
    # process: out of the collector's sight, it is not walked again on every full collection.
    gc.freeze()
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
