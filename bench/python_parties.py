#!/usr/bin/env python3
# Two Python parties written against tno.mpc.communication's API, as separate processes, timed:
# run once with the reference itself and once on the engine (python -m mpc_comm.run), side by
# side in the same run. Workloads: 64 B round trips (median latency, and the CPU time of both
# processes per round trip), asends of small ints (messages per second at the receiver), and
# 64 MiB bytes messages one-way (MB/s). Prints one JSON object per figure.
#
#   bench/python_parties.py --python PY [--cores same|separate] [--scale F]
#       runs both implementations with the interpreter PY (which has the reference and mpc_comm)
#   bench/python_parties.py party --role a|b --port-a P --port-b P --workload W --count N
#       (one party; used by the above)
import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def party(args):
    from tno.mpc.communication import Pool  # the reference's, or the engine's under mpc_comm.run

    pool = Pool()
    me, peer = ("a", "b") if args.role == "a" else ("b", "a")
    pool.add_http_server(addr="127.0.0.1", port=args.port_a if me == "a" else args.port_b)
    pool.add_http_client(peer, addr="127.0.0.1", port=args.port_b if me == "a" else args.port_a)
    await pool.send(peer, "ready", "ready")
    await pool.recv(peer, "ready")
    result = {}
    n = args.count
    if args.workload == "round_trip":
        payload = b"x" * 64
        if me == "a":
            times = []
            cpu = cpu_seconds()
            for _ in range(n):
                t = time.perf_counter()
                await pool.send(peer, payload)
                await pool.recv(peer)
                times.append(time.perf_counter() - t)
            result = {"rtt_median_us": statistics.median(times) * 1e6,
                      "cpu_s": cpu_seconds() - cpu}
        else:
            cpu = cpu_seconds()
            for _ in range(n):
                await pool.send(peer, await pool.recv(peer))
            result = {"cpu_s": cpu_seconds() - cpu}
    elif args.workload == "asend":
        if me == "a":
            for i in range(n):
                pool.asend(peer, i)
            await pool.recv(peer, "done")
        else:
            first = await pool.recv(peer)
            t = time.perf_counter()
            for i in range(1, n):
                got = await pool.recv(peer)
                assert got == i, (got, i)
            result = {"messages_per_s": (n - 1) / (time.perf_counter() - t), "first": first}
            await pool.send(peer, "done", "done")
    elif args.workload == "one_way_64mib":
        payload = b"x" * (64 << 20)
        if me == "a":
            for _ in range(n):
                await pool.send(peer, payload)
            await pool.recv(peer, "done")
        else:
            await pool.recv(peer)  # the first one warms up
            t = time.perf_counter()
            for _ in range(n - 1):
                got = await pool.recv(peer)
                assert len(got) == len(payload)
            result = {"mb_per_s": (n - 1) * len(payload) / 1e6 / (time.perf_counter() - t)}
            await pool.send(peer, "done", "done")
    await pool.shutdown()
    print(json.dumps(result), flush=True)


PORT = [64500]


def run_pair(python, engine, workload, count, cores):
    PORT[0] += 2
    a, b = PORT[0], PORT[0] + 1
    pin = shutil.which("taskset") and (os.cpu_count() or 1) >= 2
    prefix = [python] + (["-m", "mpc_comm.run"] if engine else []) + [__file__, "party"]
    common = ["--port-a", str(a), "--port-b", str(b), "--workload", workload, "--count", str(count)]

    def cmd(role, core):
        taskset = ["taskset", "-c", str(core)] if pin else []
        return taskset + prefix + ["--role", role] + common

    core_b = 0 if cores == "same" else 1
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    pb = subprocess.Popen(cmd("b", core_b), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, env=env)
    pa = subprocess.Popen(cmd("a", 0), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, env=env)
    out_a, _ = pa.communicate(timeout=900)
    out_b, _ = pb.communicate(timeout=900)
    if pa.returncode or pb.returncode:
        raise RuntimeError(f"a party failed: {pa.returncode} {pb.returncode}")
    ra, rb = json.loads(out_a.strip().splitlines()[-1]), json.loads(out_b.strip().splitlines()[-1])
    if workload == "round_trip":
        return {"rtt_median_us": ra["rtt_median_us"],
                "cpu_per_rtt_us": (ra["cpu_s"] + rb["cpu_s"]) / count * 1e6}
    if workload == "asend":
        return {"messages_per_s": rb["messages_per_s"]}
    return {"mb_per_s": rb["mb_per_s"]}


def compare(python, scale):
    counts = {"round_trip": max(200, int(3000 * scale)), "asend": max(2000, int(100000 * scale)),
              "one_way_64mib": max(3, int(12 * scale))}
    runs = [("round_trip", "same"), ("round_trip", "separate"), ("asend", "separate"),
            ("one_way_64mib", "separate")]
    for workload, cores in runs:
        # Alternated, three times each; the median is kept.
        got = {"reference": [], "engine": []}
        for _ in range(3):
            for name, engine in (("reference", False), ("engine", True)):
                count = counts[workload]
                if name == "reference" and workload == "asend":
                    count = max(2000, count // 10)  # the reference is slow; fewer suffice
                got[name].append(run_pair(python, engine, workload, count, cores))
        row = {"workload": workload, "cores": cores}
        for name, results in got.items():
            key = next(iter(results[0]))
            results.sort(key=lambda r: r[key])
            row[name] = results[len(results) // 2]
        print(json.dumps(row), flush=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "party":
        ap = argparse.ArgumentParser()
        ap.add_argument("--role", required=True)
        ap.add_argument("--port-a", type=int, required=True)
        ap.add_argument("--port-b", type=int, required=True)
        ap.add_argument("--workload", required=True)
        ap.add_argument("--count", type=int, required=True)
        asyncio.run(party(ap.parse_args(sys.argv[2:])))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args()
    compare(args.python, args.scale)


if __name__ == "__main__":
    main()
