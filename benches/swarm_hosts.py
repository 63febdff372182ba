#!/usr/bin/python3
"""A swarm of many hosts on one machine: one seed and N downloaders, each in a network
namespace of its own with its own link, all on one bridge with a tracker host.

    swarm_hosts.py [--downloaders N] [--size-mib M] [--rate MBIT] [--clients mt,libtorrent]
                   [--seed-arg ARG]... [--runs R] [--timeout SECS] [--json]

`mt` is target/release/mt unless `MT_BIN` names another build (the tests pass theirs).

`--seed-arg ARG` passes ARG to the seed of every client: `--super-seed` makes both `mt seed`
and libtorrent's seed super-seed (BEP 16).

Needs root (`ip netns`, veth pairs, a bridge, `tc tbf`). Every host's upload is capped at
`--rate` megabits per second with a token bucket filter on its side of its link, so the seed
can hand out about one copy of the file per `size / rate` seconds and the downloaders must
share pieces with each other to finish sooner than one after another. The tracker is
`mt tracker` on its own host for every client. All downloaders start together and keep
serving after they finish (`mt get --seed`, libtorrent with `--keep-seeding`) until the last
one is done or the timeout passes.

For each client and run it reports: the swarm's completion time (the last downloader's), the
fastest, median and slowest downloader, and how many copies of the file the seed uploaded,
taken from the kernel's byte counter of the seed's interface (so TCP/IP headers count: about
1.04 copies is the floor), not from the seed's own report. The ideal time is
1.04 x size / rate. Every download is compared with the original; a wrong or missing one
makes the run fail (exit 1). Namespaces, processes and files are removed on every exit path.
"""

import functools
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MT = os.environ.get("MT_BIN") or os.path.join(ROOT, "target", "release", "mt")
LT = os.path.join(ROOT, "tests", "interop", "lt_swarm.py")
SUBNET = "10.77.%d.%d"
TRACKER_PORT = 6969
PEER_PORT = 6881
HEADERS = 1.04


def sh(*args, check=True):
    """Runs a command, returning its stdout; raises with its stderr on failure."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), done.stderr.strip()))
    return done.stdout


class Network:
    """A bridge namespace and one namespace per host, each joined to the bridge by a veth
    pair whose host side (`eth0`) has its upload capped."""

    def __init__(self, tag, rate_mbit):
        self.tag = tag
        self.rate = rate_mbit
        self.bridge = "%s-br" % tag
        self.hosts = []
        sh("ip", "netns", "add", self.bridge)
        sh("ip", "-n", self.bridge, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.bridge, "link", "set", "br0", "up")

    def add_host(self, index):
        """Adds host `index` (1-based) with address 10.77.x.y/16; returns (namespace, ip)."""
        ns = "%s-h%d" % (self.tag, index)
        ip = SUBNET % (index // 250, index % 250 + 1)
        outside = "%sv%d" % (self.tag, index)
        sh("ip", "netns", "add", ns)
        self.hosts.append(ns)
        sh("ip", "link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", outside, "netns", self.bridge)
        sh("ip", "-n", self.bridge, "link", "set", outside, "master", "br0", "up")
        sh("ip", "-n", ns, "addr", "add", ip + "/16", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        burst = max(32 * 1024, self.rate * 1_000_000 // 8 // 100)
        sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0", "root", "tbf",
           "rate", "%dmbit" % self.rate, "burst", str(burst), "latency", "100ms")
        return ns, ip

    def tx_bytes(self, ns):
        stats = json.loads(sh("ip", "-n", ns, "-s", "-j", "link", "show", "eth0"))
        return stats[0]["stats64"]["tx"]["bytes"]

    def remove(self):
        for ns in self.hosts + [self.bridge]:
            sh("ip", "netns", "del", ns, check=False)


class Process:
    """A program in a namespace whose JSON stdout lines are read on a thread; `finished` is
    when it first said it has every piece (`complete` from mt, `done` from libtorrent)."""

    def __init__(self, ns, argv, env, log):
        self.popen = subprocess.Popen(
            ["ip", "netns", "exec", ns] + argv, env=env, stdout=subprocess.PIPE,
            stderr=log, text=True, start_new_session=True)
        self.finished = None
        self.lines = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        for line in self.popen.stdout:
            self.lines.append(line)
            try:
                event = json.loads(line).get("event")
            except ValueError:
                continue
            if event in ("listening", "started"):
                self.ready.set()
            if event in ("complete", "done") and self.finished is None:
                self.finished = time.monotonic()

    def stop(self):
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)


def sha1_of(path):
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def mt_quiet_flags(command):
    """The flags that keep `mt <command>` from looking beyond the swarm (DHT, LSD), where
    this build has them."""
    usage = sh(MT, command, "--help", check=False)
    return tuple(flag for flag in ("--no-dht", "--no-lsd") if flag in usage)


def seed_argv(client, ns_ip, torrent, data, extra):
    if client == "mt":
        return [MT, "seed", torrent, data, "--bind", ns_ip, "-p", str(PEER_PORT), "--json"] \
            + list(mt_quiet_flags("seed")) + extra
    return ["/usr/bin/python3", LT, "seed", torrent, os.path.dirname(data), "--listen",
            "%s:%d" % (ns_ip, PEER_PORT), "--timeout", "100000"] + extra


def get_argv(client, ns_ip, torrent, out_dir, name, timeout):
    if client == "mt":
        return [MT, "get", torrent, os.path.join(out_dir, name), "--bind", ns_ip, "-p",
                str(PEER_PORT), "--seed", "--json", "--timeout", str(timeout)] \
            + list(mt_quiet_flags("get"))
    return ["/usr/bin/python3", LT, "get", torrent, out_dir, "--listen",
            "%s:%d" % (ns_ip, PEER_PORT), "--keep-seeding", "--timeout", str(timeout)]


def run_swarm(client, args, work, run):
    """One swarm of `client`; returns its figures, or raises when a download is wrong."""
    tag = "mts%d" % (os.getpid() % 100000)
    net = Network(tag, args.rate)
    procs = []
    logs = open(os.path.join(work, "%s-%d.log" % (client, run)), "w")
    try:
        tracker_ns, tracker_ip = net.add_host(1)
        seed_ns, seed_ip = net.add_host(2)
        hosts = [net.add_host(10 + i) for i in range(args.downloaders)]
        announce = "http://%s:%d/announce" % (tracker_ip, TRACKER_PORT)
        base_env = dict(os.environ)
        def env_for(name):
            folder = os.path.join(work, "state", "%s-%d-%s" % (client, run, name))
            os.makedirs(folder, exist_ok=True)
            env = dict(base_env, MT_RUNTIME_DIR=folder, MT_STATE_DIR=folder)
            return env
        tracker = Process(tracker_ns, [MT, "tracker", "--http", "%s:%d" % (tracker_ip, TRACKER_PORT),
                                       "--udp", "%s:%d" % (tracker_ip, TRACKER_PORT),
                                       "--interval", "2", "--json"], env_for("tracker"), logs)
        procs.append(tracker)
        torrent = os.path.join(work, "data.torrent")
        if not os.path.exists(torrent):
            sh(MT, "create", args.data, torrent, "-t", announce)
        seed = Process(seed_ns, seed_argv(client, seed_ip, torrent, args.data, args.seed_arg),
                       env_for("seed"), logs)
        procs.append(seed)
        if not seed.ready.wait(timeout=120):
            raise RuntimeError("%s: the seed did not start" % client)
        time.sleep(1.0)  # the seed's first announce
        tx_before = net.tx_bytes(seed_ns)
        outs = []
        started = time.monotonic()
        for i, (ns, ip) in enumerate(hosts):
            out_dir = os.path.join(work, "%s-%d-d%d" % (client, run, i))
            os.makedirs(out_dir, exist_ok=True)
            outs.append(out_dir)
            argv = get_argv(client, ip, torrent, out_dir, os.path.basename(args.data), args.timeout)
            procs.append(Process(ns, argv, env_for("d%d" % i), logs))
        downloaders = procs[2:]
        while time.monotonic() - started < args.timeout:
            if all(p.finished is not None for p in downloaders):
                break
            time.sleep(0.05)
        tx_after = net.tx_bytes(seed_ns)
        missing = [i for i, p in enumerate(downloaders) if p.finished is None]
        for p in procs:
            p.stop()
        if missing:
            last = [downloaders[i].lines[-3:] for i in missing[:2]]
            raise RuntimeError("%s: downloaders %s did not finish in %d s; last lines: %s"
                               % (client, missing, args.timeout, last))
        want = sha1_of(args.data)
        for out_dir in outs:
            got = os.path.join(out_dir, os.path.basename(args.data))
            if sha1_of(got) != want:
                raise RuntimeError("%s: %s differs from the original" % (client, got))
            shutil.rmtree(out_dir)
        times = sorted(p.finished - started for p in downloaders)
        size = os.path.getsize(args.data)
        ideal = HEADERS * size * 8 / (args.rate * 1_000_000)
        return {
            "client": client, "run": run, "downloaders": args.downloaders,
            "size_mib": size / (1 << 20), "rate_mbit": args.rate,
            "swarm_s": times[-1], "fastest_s": times[0], "median_s": statistics.median(times),
            "slowest_s": times[-1], "ideal_s": ideal, "to_ideal": times[-1] / ideal,
            "slowest_to_median": times[-1] / statistics.median(times),
            "seed_copies": (tx_after - tx_before) / size,
        }
    finally:
        for p in procs:
            try:
                p.stop()
            except Exception:
                pass
        net.remove()
        logs.close()


def parse(argv):
    class Args:
        downloaders, size_mib, rate, clients, seed_arg, runs, timeout, json = 16, 64, 40, ["mt", "libtorrent"], [], 1, 300, False
    args = Args()
    i = 1
    while i < len(argv):
        flag = argv[i]
        if flag == "--json":
            args.json = True
            i += 1
            continue
        value = argv[i + 1]
        if flag == "--downloaders":
            args.downloaders = int(value)
        elif flag == "--size-mib":
            args.size_mib = int(value)
        elif flag == "--rate":
            args.rate = int(value)
        elif flag == "--clients":
            args.clients = value.split(",")
        elif flag == "--seed-arg":
            args.seed_arg.append(value)
        elif flag == "--runs":
            args.runs = int(value)
        elif flag == "--timeout":
            args.timeout = int(value)
        else:
            raise SystemExit("swarm_hosts.py: unknown option %s" % flag)
        i += 2
    return args


def main(argv):
    args = parse(argv)
    if os.geteuid() != 0:
        print("swarm_hosts.py: needs root for network namespaces", file=sys.stderr)
        return 2
    if not os.access(MT, os.X_OK):
        print("swarm_hosts.py: %s is missing; run 'cargo build --release' first" % MT, file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="swarm-hosts.", dir=os.path.join(ROOT, "bench-data")
                            if os.path.isdir(os.path.join(ROOT, "bench-data")) else None)
    try:
        args.data = os.path.join(work, "video.bin")
        with open(args.data, "wb") as f:
            f.write(os.urandom(args.size_mib << 20))
        failed = False
        for client in args.clients:
            for run in range(args.runs):
                try:
                    figures = run_swarm(client, args, work, run)
                except RuntimeError as err:
                    print("swarm_hosts.py: %s" % err, file=sys.stderr)
                    with open(os.path.join(work, "%s-%d.log" % (client, run))) as log:
                        sys.stderr.write("".join(log.readlines()[-20:]))
                    failed = True
                    continue
                if args.json:
                    print(json.dumps(figures), flush=True)
                else:
                    print("%-10s run %d: swarm %.1f s (%.2fx ideal %.1f s), fastest %.1f s, median %.1f s, "
                          "slowest %.1f s (%.2fx median), seed uploaded %.2f copies" % (
                              client, run + 1, figures["swarm_s"], figures["to_ideal"], figures["ideal_s"],
                              figures["fastest_s"], figures["median_s"], figures["slowest_s"],
                              figures["slowest_to_median"], figures["seed_copies"]), flush=True)
        return 1 if failed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
