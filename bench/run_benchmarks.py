#!/usr/bin/env python3
# The benchmark suite of the performance goals, in one go: raw TCP and raw TLS baselines
# (bench/raw_baseline), the library over the network between processes (mpc-comm bench against
# mpc-comm echo), the message workloads (bench/bench_workloads), 1 GiB messages (beside the loop
# and a plain receiver that keeps them) and their peak memory, instructions per round trip
# (callgrind), what an idle party costs, and the Python package on the same workloads when it is
# installed. Every library figure is given with its baseline from
# the same run and the ratio; the 64 B round trip also beside the floor of the protocol itself
# (raw_baseline exchange: two HTTP exchanges per round trip over raw TCP, nothing parsed), with
# its context switches, and beside a busy process on the same core. Writes JSON and SVG plots.
#
#   bench/run_benchmarks.py --build BUILD_DIR [--python PY] [--out docs/bench] [--quick]
#
# BUILD_DIR needs tools/mpc-comm, bench/raw_baseline and bench/bench_workloads (configure with
# -DMPC_COMM_BUILD_BENCHMARKS=ON, Release). Only the standard library is used; valgrind for the
# instruction counts (skipped without it).
#
# Placement. Round trips are measured with both processes on one core, where nothing but the work
# itself is timed: CPU per round trip (user + system time of both processes, from wait4) and the
# median latency. On separate cores every hand-off is a cross-core wake-up (~16 us of CPU and
# ~30 us of latency each on the 2-core VM this was written on), which hides the library's own
# cost; that latency is reported beside, never alone. Streams run on separate cores; a fresh
# process's first 1 GiB messages also unpinned, and with fresh memory in either state it can be in
# (just used by another process, or given back to a VM's host: see fresh_memory).
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT = 63100


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def port_pair():
    global PORT
    PORT += 2
    return PORT, PORT + 1


def on_core(core, placement):
    """The command prefix that pins a party: "same" puts both on core 0, "separate" party 0 on
    core 0 and party 1 on core 1, "unpinned" leaves them to the scheduler."""
    if placement == "unpinned" or (os.cpu_count() or 1) < 2 or not shutil.which("taskset"):
        return []
    return ["taskset", "-c", "0" if placement == "same" else str(core)]


def start(cmd, stdout=subprocess.PIPE):
    return subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=600):
    """Waits for `proc`; returns its stdout, stderr and resource usage (from wait4)."""
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{proc.args} exited with {proc.returncode}: {err.strip()[:300]}")
    return out, err, usage


def cpu_s(usage):
    """User + system seconds."""
    return usage.ru_utime + usage.ru_stime


def switches(usage):
    """Context switches, voluntary (waits) and involuntary (preemptions)."""
    return usage.ru_nvcsw + usage.ru_nivcsw


def raw(build, mode, size, count, certs=None, placement="separate"):
    server_port, _ = port_pair()
    tls = ["--tls", certs] if certs else []
    exe = os.path.join(build, "bench", "raw_baseline")
    server = start(on_core(1, placement) + [exe, "server", str(server_port)] + tls,
                   stdout=subprocess.DEVNULL)
    time.sleep(0.2)
    client = start(on_core(0, placement) + [exe, "client", f"127.0.0.1:{server_port}", mode,
                                            str(size), str(count), "--json"] + tls)
    out, _, client_usage = finish(client)
    _, _, server_usage = finish(server)
    result = json_lines(out)[0]
    result["cpu_s"] = cpu_s(client_usage) + cpu_s(server_usage)
    result["switches"] = switches(client_usage) + switches(server_usage)
    result["cpu_per_message_us"] = result["cpu_s"] / count * 1e6
    return result


def library(build, size, count, one_way=False, inflight=1, certs=None, peak_memory=False,
            placement="separate", warmup=None):
    a, b = port_pair()
    tool = os.path.join(build, "tools", "mpc-comm")
    tls_a = tls_b = []
    if certs:
        tls_a = ["--tls-key", f"{certs}/party_0.pem", "--tls-cert", f"{certs}/party_0.crt",
                 "--tls-ca", f"{certs}/ca-combined.crt"]
        tls_b = ["--tls-key", f"{certs}/party_1.pem", "--tls-cert", f"{certs}/party_1.crt",
                 "--tls-ca", f"{certs}/ca-combined.crt"]
    timing = ["/usr/bin/time", "-f", "peak_rss_kb=%M"] if peak_memory else []
    echo = start(on_core(1, placement) + timing
                 + [tool, "echo", "--listen", f"127.0.0.1:{b}", "--peer", f"bench=127.0.0.1:{a}",
                    "--count", str(count)] + (["--sink"] if one_way else []) + tls_b,
                 stdout=subprocess.DEVNULL)
    bench = start(on_core(0, placement) + timing
                  + [tool, "bench", "--listen", f"127.0.0.1:{a}", "--peer", f"echo=127.0.0.1:{b}",
                     "--size", str(size), "--count", str(count), "--inflight", str(inflight),
                     "--json"] + (["--one-way"] if one_way else [])
                  + ([] if warmup is None else ["--warmup", str(warmup)]) + tls_a)
    out, err, bench_usage = finish(bench)
    _, echo_err, echo_usage = finish(echo)
    result = json_lines(out)[0]
    result["cpu_s"] = cpu_s(bench_usage) + cpu_s(echo_usage)
    result["switches"] = switches(bench_usage) + switches(echo_usage)
    result["cpu_per_message_us"] = result["cpu_s"] / count * 1e6
    if peak_memory:
        result["sender_peak_rss_mb"] = peak_kb(err) / 1024
        result["receiver_peak_rss_mb"] = peak_kb(echo_err) / 1024
    return result


def fresh_memory(state):
    """Puts the memory the next processes get into `state`. "just_used": a process has just
    touched and freed 3 GiB, so fresh memory costs its first touch what zeroing it costs. "given
    given_back": nothing has been freed for 6 s, so that a VM that reports free memory to its host
    (virtio-balloon free page reporting, some 2 s after the free) has handed it back, and its
    first touch costs a fault in the host as well (~1 s per GiB on the VM this was written on).
    Where memory is not reported, both states are the same."""
    if state == "given_back":
        time.sleep(6)
        return
    import mmap
    size = 3 << 30
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)
    m.madvise(mmap.MADV_HUGEPAGE)
    try:
        m.madvise(23)  # MADV_POPULATE_WRITE (Linux 5.14), which the mmap module does not name
    except OSError:
        for offset in range(0, size, mmap.PAGESIZE):
            m[offset] = 1
    m.close()


def first_gib_messages(build, state, placement):
    """Two 1 GiB messages one-way in fresh processes, with fresh memory in `state` before each
    run: the library, the plain streaming loop and a plain receiver that keeps each message
    (raw_baseline keep), alternated three times; the runs whose library-to-loop ratio is the
    median. On separate cores each process has one CPU; unpinned, the receiver may fault its
    memory in on another CPU than the one that reads (net/fault_ahead.hpp)."""
    runs = []
    for _ in range(3):
        row = {}
        fresh_memory(state)
        row["library"] = library(build, 1 << 30, 2, one_way=True, peak_memory=True,
                                 placement=placement)
        fresh_memory(state)
        row["raw_tcp"] = raw(build, "stream", 1 << 30, 2, placement=placement)
        fresh_memory(state)
        row["raw_tcp_keep"] = raw(build, "keep", 1 << 30, 2, placement=placement)
        runs.append(row)
    runs.sort(key=lambda r: r["library"]["payload_mb_per_s"] / r["raw_tcp"]["payload_mb_per_s"])
    return runs[1]


def beside_busy_process(measure):
    """`measure()` while a busy loop runs on core 0, where the "same" placement puts both parties:
    what a round trip costs where the parties share their core with a process that computes."""
    busy = start(on_core(0, "same") + ["sh", "-c", "while :; do :; done"], stdout=subprocess.DEVNULL)
    try:
        return measure()
    finally:
        busy.kill()
        busy.wait()


def without_start_up(measure, count):
    """`measure(count)`, with its CPU per message counted without start-up and shutdown: the CPU
    of a run a tenth as long is subtracted (processes, pools, connections and TLS handshakes
    cost milliseconds, which would flatter the cheaper side of a ratio)."""
    short = max(10, count // 10)
    full, brief = measure(count), measure(short)
    full["cpu_per_message_us"] = (full["cpu_s"] - brief["cpu_s"]) / (count - short) * 1e6
    full["switches_per_message"] = (full["switches"] - brief["switches"]) / (count - short)
    return full


def callgrind_instructions(cmds):
    """Runs the commands at once under callgrind (the first is the server, given a head start);
    returns the instructions (user space) each executed."""
    outs, procs = [], []
    for i, cmd in enumerate(cmds):
        out = tempfile.mktemp(prefix="callgrind.")
        outs.append(out)
        procs.append(start(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + cmd,
                           stdout=subprocess.DEVNULL))
        if i == 0:
            time.sleep(2)
    counts = []
    for proc, out in zip(procs, outs):
        _, err, _ = finish(proc)
        counts.append(int(re.search(r"Collected : (\d+)", err).group(1)))
        os.unlink(out)
    return counts


def instructions_per_round_trip(build, size=64, counts=(200, 1200)):
    """User-space instructions of both processes per round trip: the difference between two runs
    of different lengths, so that start-up and shutdown cancel out. Deterministic up to a few
    hundred instructions, unlike any timing on a shared machine."""
    tool = os.path.join(build, "tools", "mpc-comm")
    exe = os.path.join(build, "bench", "raw_baseline")

    def lib(n):
        a, b = port_pair()
        return sum(callgrind_instructions([
            [tool, "echo", "--listen", f"127.0.0.1:{b}", "--peer", f"bench=127.0.0.1:{a}",
             "--count", str(n)],
            [tool, "bench", "--listen", f"127.0.0.1:{a}", "--peer", f"echo=127.0.0.1:{b}",
             "--size", str(size), "--count", str(n), "--json"]]))

    def base(n):
        port, _ = port_pair()
        return sum(callgrind_instructions([
            [exe, "server", str(port)],
            [exe, "client", f"127.0.0.1:{port}", "pingpong", str(size), str(n), "--json"]]))

    short, long = counts
    return {"size": size,
            "library": (lib(long) - lib(short)) / (long - short),
            "raw_tcp": (base(long) - base(short)) / (long - short)}


def idle_cost(build, seconds=3.0):
    """CPU time and wake-ups (context switches of all its threads) per second of an `mpc-comm
    echo` that has nothing to do."""
    a, b = port_pair()
    tool = os.path.join(build, "tools", "mpc-comm")
    proc = subprocess.Popen([tool, "echo", "--listen", f"127.0.0.1:{b}", "--peer",
                             f"x=127.0.0.1:{a}", "--count", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def sample():
        switches = 0
        for status in glob.glob(f"/proc/{proc.pid}/task/*/status"):
            with open(status) as f:
                switches += sum(int(line.split()[1]) for line in f if "ctxt_switches" in line)
        with open(f"/proc/{proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return switches, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    try:
        time.sleep(1.0)
        s0, c0 = sample()
        time.sleep(seconds)
        s1, c1 = sample()
    finally:
        proc.kill()
        proc.wait()
    return {"wakeups_per_s": (s1 - s0) / seconds, "cpu_ms_per_s": (c1 - c0) * 1000 / seconds}


def best_of(runs, key, measure):
    """Runs `measure` `runs` times and keeps the run whose `key` is the median: single runs on a
    2-core machine vary by a factor of several when the scheduler puts both processes on one core."""
    results = sorted((measure() for _ in range(runs)), key=lambda r: r[key])
    return results[len(results) // 2]


def paired(runs, key, measure, baseline):
    """Runs `measure` and its `baseline` alternately, `runs` times each, and keeps the pair whose
    ratio is the median: the machine's speed drifts by up to 2x within minutes (large transfers
    most), so a library figure is compared with the baseline taken right next to it."""
    pairs = []
    for _ in range(runs):
        lib, base = measure(), baseline()
        ratio = lib[key] / base[key]
        pairs.append((ratio, lib, base))
    pairs.sort(key=lambda p: p[0])
    ratio, lib, base = pairs[len(pairs) // 2]
    return lib, base


def peak_kb(text):
    for line in text.splitlines():
        if line.startswith("peak_rss_kb="):
            return int(line.split("=")[1])
    return 0


def svg_plot(path, title, ylabel, xs, series, log_y=True):
    """A small line plot (log-log) as SVG: series = {name: [y or None per x]}."""
    import math
    w, h, left, right, top, bottom = 640, 400, 70, 170, 40, 50
    ys = [y for v in series.values() for y in v if y]
    lo, hi = min(ys), max(ys)
    if log_y:
        lo, hi = math.log10(lo) - 0.1, math.log10(hi) + 0.1
    fx = lambda i: left + (w - left - right) * (i / max(1, len(xs) - 1))
    fy = lambda y: top + (h - top - bottom) * (1 - ((math.log10(y) if log_y else y) - lo) / (hi - lo))
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w / 2 - 100}" y="20" font-size="14">{title}</text>',
           f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="black"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="black"/>',
           f'<text x="10" y="{top - 10}">{ylabel}</text>']
    for i, x in enumerate(xs):
        out.append(f'<text x="{fx(i) - 20}" y="{h - bottom + 18}">{x}</text>')
    for e in range(math.floor(lo), math.ceil(hi) + 1):
        if lo <= e <= hi:
            y = top + (h - top - bottom) * (1 - (e - lo) / (hi - lo))
            out.append(f'<line x1="{left - 4}" y1="{y}" x2="{w - right}" y2="{y}" stroke="#ddd"/>')
            out.append(f'<text x="{left - 50}" y="{y + 4}">{10 ** e:g}</text>')
    for k, (name, values) in enumerate(series.items()):
        c = colors[k % len(colors)]
        pts = [(fx(i), fy(v)) for i, v in enumerate(values) if v]
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                   % (c, " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)))
        for x, y in pts:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{c}"/>')
        out.append(f'<text x="{w - right + 10}" y="{top + 18 * k + 10}" fill="{c}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))


def plot_python_package(rows, out):
    """The engine's speed as a multiple of the reference's, per workload of python_parties.py."""
    names, ratios = [], []
    for row in rows:
        ref, eng = row["reference"], row["engine"]
        if row["workload"] == "round_trip":
            names.append("64 B RT CPU, " + ("1 core" if row["cores"] == "same" else "2 cores"))
            ratios.append(ref["cpu_per_rtt_us"] / eng["cpu_per_rtt_us"])
        elif row["workload"] == "asend":
            names.append("asend ints")
            ratios.append(eng["messages_per_s"] / ref["messages_per_s"])
        else:
            names.append("64 MiB one-way")
            ratios.append(eng["mb_per_s"] / ref["mb_per_s"])
    svg_plot(os.path.join(out, "python_package.svg"),
             "Python on the engine: x the reference (higher is better)", "x the reference", names,
             {"mpc_comm (engine)": ratios, "tno.mpc.communication": [1.0] * len(ratios)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--python", help="a Python with tno.mpc.communication, for scale")
    ap.add_argument("--python-package", help="a Python with tno.mpc.communication and mpc_comm: "
                    "the reference and the engine side by side (bench/python_parties.py)")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "bench"))
    ap.add_argument("--quick", action="store_true", help="small counts (CI)")
    args = ap.parse_args()
    q = 10 if args.quick else 1
    os.makedirs(args.out, exist_ok=True)
    certs = tempfile.mkdtemp()
    run([os.path.join(ROOT, "scripts", "make-test-certs.sh"), certs])
    report = {"machine": run(["uname", "-srm"]).strip(), "cores": os.cpu_count(),
              "round_trip": [], "one_way": [], "workloads": [], "memory": {}, "python": []}

    report["instructions"] = None
    if shutil.which("valgrind"):
        report["instructions"] = instructions_per_round_trip(args.build)
        i = report["instructions"]
        print(f"instructions per 64 B round trip (callgrind, both processes, user space): "
              f"library {i['library']:,.0f}, raw TCP {i['raw_tcp']:,.0f}", flush=True)
    else:
        print("instructions per round trip: valgrind not installed, not measured")
    report["idle"] = idle_cost(args.build)
    print(f"an idle party (mpc-comm echo): {report['idle']['cpu_ms_per_s']:.1f} ms of CPU and "
          f"{report['idle']['wakeups_per_s']:.1f} wake-ups per second", flush=True)

    rt_sizes = [64, 1024, 65536, 1 << 20]
    rt_counts = {64: 5000, 1024: 5000, 65536: 2000, 1 << 20: 500}
    for size in rt_sizes:
        n = max(50, rt_counts[size] // q)
        row = {"size": size}
        for tls, (lib_key, raw_key) in ((None, ("library", "raw_tcp")),
                                        (certs, ("library_tls", "raw_tls"))):
            mode = "pingpong"
            row[lib_key], row[raw_key] = paired(
                3, "cpu_per_message_us",
                lambda: without_start_up(
                    lambda c: library(args.build, size, c, certs=tls, placement="same"), n),
                lambda: without_start_up(
                    lambda c: raw(args.build, mode, size, c, tls, placement="same"), n))
            row[lib_key + "_separate"], row[raw_key + "_separate"] = paired(
                3, "rtt_median_us",
                lambda: library(args.build, size, n, certs=tls, placement="separate"),
                lambda: raw(args.build, mode, size, n, tls, placement="separate"))
        if size == 64:
            # The floor of the protocol itself: the four writes of two HTTP exchanges per round
            # trip over two connections, each send waiting for its 200, nothing parsed.
            row["library_beside_floor"], row["protocol_floor"] = paired(
                3, "cpu_per_message_us",
                lambda: without_start_up(
                    lambda c: library(args.build, size, c, placement="same"), n),
                lambda: without_start_up(
                    lambda c: raw(args.build, "exchange", size, c, placement="same"), n))
        if size == 64 and on_core(0, "same"):
            # Beside a busy process on the same core (where parties can be pinned): round trips
            # per second of both.
            row["library_beside_busy"], row["raw_tcp_beside_busy"] = paired(
                3, "messages_per_s",
                lambda: beside_busy_process(
                    lambda: library(args.build, size, n, placement="same")),
                lambda: beside_busy_process(
                    lambda: raw(args.build, "pingpong", size, n, placement="same")))
        cpu = {k: r["cpu_per_message_us"] for k, r in row.items() if isinstance(r, dict)}
        p50 = {k: r["rtt_median_us"] for k, r in row.items() if isinstance(r, dict)}
        row["cpu_ratio_tcp"] = cpu["library"] / cpu["raw_tcp"]
        row["cpu_ratio_tls"] = cpu["library_tls"] / cpu["raw_tls"]
        report["round_trip"].append(row)
        print(f"round trip {size:>8} B, one core: CPU {cpu['library']:8.1f} us "
              f"(raw TCP {cpu['raw_tcp']:7.1f}, x{row['cpu_ratio_tcp']:.2f}), p50 "
              f"{p50['library']:7.1f} us (raw {p50['raw_tcp']:6.1f}); separate cores: p50 "
              f"{p50['library_separate']:7.1f} us (raw {p50['raw_tcp_separate']:6.1f}); TLS one "
              f"core: CPU {cpu['library_tls']:8.1f} us (raw TLS {cpu['raw_tls']:7.1f}, "
              f"x{row['cpu_ratio_tls']:.2f})", flush=True)
        if size == 64:
            sw = {k: row[k]["switches_per_message"]
                  for k in ("library", "raw_tcp", "library_beside_floor", "protocol_floor")}
            print(f"round trip       64 B, one core: context switches per round trip (both "
                  f"processes) library {sw['library']:.2f} (raw TCP {sw['raw_tcp']:.2f}); "
                  f"beside the protocol floor {sw['library_beside_floor']:.2f} (floor "
                  f"{sw['protocol_floor']:.2f})", flush=True)
        if "library_beside_busy" in row:
            lib, base = row["library_beside_busy"], row["raw_tcp_beside_busy"]
            print(f"round trip       64 B, one core beside a busy process: library "
                  f"{lib['messages_per_s']:,.0f}/s, p50 {lib['rtt_median_us']:.1f} us, p99 "
                  f"{lib['rtt_p99_us']:.1f} us (raw TCP {base['messages_per_s']:,.0f}/s, p50 "
                  f"{base['rtt_median_us']:.1f} us, p99 {base['rtt_p99_us']:.1f} us)", flush=True)
        if "protocol_floor" in row:
            print(f"round trip       64 B, one core: protocol floor (two HTTP exchanges over raw "
                  f"TCP, nothing parsed) CPU {cpu['protocol_floor']:.1f} us, p50 "
                  f"{p50['protocol_floor']:.1f} us; library beside it CPU "
                  f"{cpu['library_beside_floor']:.1f} us "
                  f"(x{cpu['library_beside_floor'] / cpu['protocol_floor']:.2f}), p50 "
                  f"{p50['library_beside_floor']:.1f} us", flush=True)

    ow_sizes = [65536, 1 << 20, 64 << 20]
    total = (1 << 30) // q
    for size in ow_sizes:
        n = max(4, total // size)
        k = "payload_mb_per_s"
        row = {"size": size}
        row["library"], row["raw_tcp"] = paired(
            3, k, lambda: library(args.build, size, n, one_way=True, inflight=4),
            lambda: raw(args.build, "stream", size, n))
        row["library_tls"], row["raw_tls"] = paired(
            3, k, lambda: library(args.build, size, n, one_way=True, inflight=4, certs=certs),
            lambda: raw(args.build, "stream", size, n, certs))
        row["fraction_tcp"] = row["library"]["payload_mb_per_s"] / row["raw_tcp"]["payload_mb_per_s"]
        row["fraction_tls"] = (row["library_tls"]["payload_mb_per_s"]
                               / row["raw_tls"]["payload_mb_per_s"])
        report["one_way"].append(row)
        # The count is printed because each run is a fresh process: with a few messages (--quick
        # sends 4 of 64 MiB) the first touch of their memory is much of what is timed, and that
        # varies with what the machine last did with its free memory (docs/benchmarks.md).
        print(f"one-way {size:>10} B x {n}: library {row['library']['payload_mb_per_s']:7.0f} MB/s "
              f"({row['fraction_tcp']:.0%} of raw TCP {row['raw_tcp']['payload_mb_per_s']:.0f}); "
              f"TLS {row['library_tls']['payload_mb_per_s']:7.0f} MB/s "
              f"({row['fraction_tls']:.0%} of raw TLS {row['raw_tls']['payload_mb_per_s']:.0f})",
              flush=True)

    n = max(2000, 100000 // q)
    row = {"size": 64, "inflight": 32}
    row["library"], row["raw_tcp"] = paired(
        3, "messages_per_s",
        lambda: without_start_up(
            lambda c: library(args.build, 64, c, one_way=True, inflight=32), n),
        lambda: raw(args.build, "stream", 64, n))
    report["small_one_way"] = row
    print(f"one-way 64 B, 32 in flight: library {row['library']['messages_per_s']:,.0f} "
          f"messages/s, CPU {row['library']['cpu_per_message_us']:.1f} us each (raw TCP, one "
          f"write each: {row['raw_tcp']['messages_per_s']:,.0f}/s)", flush=True)

    scale = ["--scale", "0.1"] if args.quick else []
    report["workloads"] = json_lines(run([os.path.join(args.build, "bench", "bench_workloads")]
                                         + scale))
    for w in report["workloads"]:
        print("workload", json.dumps(w), flush=True)

    if not args.quick:
        # A fresh process's first 1 GiB message: the receiver faults in the memory it keeps the
        # message in (the loop keeps nothing), in both states fresh memory can be in; beside the
        # loop and a plain receiver that keeps each message.
        first = {state: {placement: first_gib_messages(args.build, state, placement)
                         for placement in ("separate", "unpinned")}
                 for state in ("just_used", "given_back")}
        # The same stream after one message: later ones reuse the first one's memory.
        steady, steady_base = paired(
            3, "payload_mb_per_s",
            lambda: library(args.build, 1 << 30, 4, one_way=True, peak_memory=True, warmup=1),
            lambda: raw(args.build, "stream", 1 << 30, 2))
        runs = [r["library"] for rows in first.values() for r in rows.values()] + [steady]
        report["memory"] = {
            "payload_bytes": 1 << 30,
            "first": {state: {placement: {k: r["payload_mb_per_s"] for k, r in row.items()}
                              for placement, row in rows.items()}
                      for state, rows in first.items()},
            "library_after_first_mb_per_s": steady["payload_mb_per_s"],
            "raw_tcp_beside_it_mb_per_s": steady_base["payload_mb_per_s"],
            "sender_peak_rss_mb": max(r["sender_peak_rss_mb"] for r in runs),
            "receiver_peak_rss_mb": max(r["receiver_peak_rss_mb"] for r in runs)}
        for state, rows in report["memory"]["first"].items():
            for placement, row in rows.items():
                print(f"1 GiB messages, the first two of a fresh process, fresh memory {state}, "
                      f"{placement}: library {row['library']:.0f} MB/s "
                      f"({row['library'] / row['raw_tcp']:.0%} of the loop {row['raw_tcp']:.0f}; "
                      f"{row['library'] / row['raw_tcp_keep']:.0%} of a plain receiver that "
                      f"keeps them, {row['raw_tcp_keep']:.0f})", flush=True)
        m = report["memory"]
        print(f"1 GiB messages after the first: library {m['library_after_first_mb_per_s']:.0f} "
              f"MB/s (loop {m['raw_tcp_beside_it_mb_per_s']:.0f}); peak RSS sender "
              f"{m['sender_peak_rss_mb']:.0f} MiB, receiver {m['receiver_peak_rss_mb']:.0f} MiB",
              flush=True)

    if args.python:
        try:
            out = run([args.python, os.path.join(ROOT, "bench", "python_bench.py")]
                      + (["--scale", "0.1"] if args.quick else []))
            report["python"] = json_lines(out)
            for p in report["python"]:
                print("python", json.dumps(p), flush=True)
        except subprocess.CalledProcessError as e:
            print("python: not run:", e.stderr.strip()[:200])
    if args.python_package:
        # Two Python processes written against the reference's API, on the reference and on the
        # engine (mpc_comm), alternated in the same run.
        out = run([sys.executable, os.path.join(ROOT, "bench", "python_parties.py"), "--python",
                   args.python_package] + (["--scale", "0.1"] if args.quick else []))
        report["python_package"] = json_lines(out)
        for p in report["python_package"]:
            print("python package", json.dumps(p), flush=True)

    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(report, f, indent=1)
    labels = ["64 B", "1 KiB", "64 KiB", "1 MiB"]
    series = {"library, one core": [r["library"]["cpu_per_message_us"]
                                    for r in report["round_trip"]],
              "raw TCP, one core": [r["raw_tcp"]["cpu_per_message_us"]
                                    for r in report["round_trip"]],
              "library, TLS, one core": [r["library_tls"]["cpu_per_message_us"]
                                         for r in report["round_trip"]],
              "raw TLS, one core": [r["raw_tls"]["cpu_per_message_us"]
                                    for r in report["round_trip"]]}
    svg_plot(os.path.join(args.out, "round_trip.svg"),
             "Round trip: CPU of both parties on one core (lower is better)",
             "microseconds", labels, series)
    py_ow = {p["size"]: p["payload_mb_per_s"] for p in report["python"]
             if p["workload"] == "one_way"}
    series = {"library": [r["library"]["payload_mb_per_s"] for r in report["one_way"]],
              "raw TCP": [r["raw_tcp"]["payload_mb_per_s"] for r in report["one_way"]],
              "library, TLS": [r["library_tls"]["payload_mb_per_s"] for r in report["one_way"]],
              "raw TLS": [r["raw_tls"]["payload_mb_per_s"] for r in report["one_way"]]}
    if py_ow:
        series["Python package"] = [py_ow.get(s) for s in ow_sizes]
    svg_plot(os.path.join(args.out, "throughput.svg"), "One-way throughput (higher is better)",
             "MB/s of payload", ["64 KiB", "1 MiB", "64 MiB"], series)
    if report.get("python_package"):
        plot_python_package(report["python_package"], args.out)
    print("wrote", os.path.join(args.out, "results.json"), "and the plots")


if __name__ == "__main__":
    sys.exit(main())
