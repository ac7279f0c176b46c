#!/usr/bin/env python3
"""The gateway against an instant upstream, in one run (bench/README.md).

Starts `aion_loadgen upstream` (an OpenAI-compatible server that answers at
once) and a real aiond whose `openai` provider points at it, checks once that
a chat completion through aiond really reaches the upstream, then loads with
`aion_loadgen` (C++ client, C keep-alive connections):

  A  upstream direct     POST /v1/chat/completions      baseline of B
  B  aiond               POST /v1/chat/completions      chat task -> openai provider -> upstream
  C  aiond               GET /healthz                   baseline of D and E
  D  aiond REST          POST /v1/tasks (summarize)     202 once durably stored
  E  aiond gRPC          aion.v1.AionTasks/Submit       same task

each at saturation (closed loop) and at a fixed rate (open loop, latency from
the scheduled send time), with RSS and CPU time of aiond per phase.
Then, unless --skip-reference, bare pass-through proxies in Node (if `node`
exists), Python and C++ (`aion_loadgen proxy`) to the same upstream (N, P, X;
baseline A), as the floor of what any Node, Python or C++ gateway costs.
Measures, never asserts. Needs ./scripts/build.sh first.

usage: bench/gateway.py [--duration 5] [--warmup 1] [--conns 16] [--workers N]
                        [--skip-grpc] [--skip-reference] [--json out.json]
                        [--perf perf.data [--perf-phase B]] [--data-parent /dev/shm]
                        [--build DIR] [--policy-dir DIR]
"""
import argparse
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gateway_report import print_report  # beside this file

REPO = Path(__file__).resolve().parents[1]
KEY = "bench-key"
ANSWER = "instant upstream answer"  # what aion_loadgen upstream replies
TEXT = ("Routing decides where each task runs. The policy weighs privacy, latency and cost. "
        "Local modules run in a WebAssembly sandbox. Every state change is stored before the answer. "
        "Clients follow progress as server-sent events. ") * 5  # ~1 KB, as throughput.py
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say something short."}]}
AIM_RATE = 2000  # the project's aim is stated at 2k RPS


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chat_content(body):
    """The first choice's text of a chat.completion body, or None."""
    try:
        return json.loads(body)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def has_bare_proxy(loadgen):
    """Whether this aion_loadgen binary has the `proxy` subcommand (builds before it do not)."""
    return Path(loadgen).exists() and \
        subprocess.run([str(loadgen), "proxy", "--help"], capture_output=True).returncode == 0


def proc_stats(pid):
    """RSS and peak RSS in KiB, CPU time (user+system) in seconds."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    out["cpu"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def wait_listening(port, proc, what, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} is not listening on {port} after {timeout} s")


class Bench:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.loadgen = str(Path(args.build) / "bench" / "aion_loadgen")
        self.procs = []
        self.aionds = []  # the aiond processes among procs (one, or each role of a split)
        # Where aiond's SQLite lives decides what a commit costs (an fsync to disk, or nothing on tmpfs).
        self.data_dir = Path(tempfile.mkdtemp(prefix="aion-gwbench-data-", dir=args.data_parent)) \
            if args.data_parent else tmp / "data"

    # -- processes ----------------------------------------------------------------
    def spawn(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def start_upstream(self):
        self.up_port = free_port()
        self.upstream = self.spawn([self.loadgen, "upstream", "--port", str(self.up_port)],
                                   stdout=subprocess.DEVNULL)
        wait_listening(self.up_port, self.upstream, "aion_loadgen upstream")

    def start_bare_proxy(self):
        """`aion_loadgen proxy` (bench/loadgen/proxy.cpp) in front of the upstream, checked to return its
        answer: the floor any C++ gateway pays here. Sets bare_port and bare."""
        self.bare_port = free_port()
        self.bare = self.spawn([self.loadgen, "proxy", "--upstream-port", str(self.up_port),
                                "--port", str(self.bare_port)], stdout=subprocess.DEVNULL)
        wait_listening(self.bare_port, self.bare, "aion_loadgen proxy")
        st, data = request(self.bare_port, "POST", "/v1/chat/completions", CHAT, {"Content-Type": "application/json"})
        content = chat_content(data)
        if st != 200 or content != ANSWER:
            raise SystemExit(f"the bare C++ proxy does not reach the upstream: {st} {data[:300]!r}")

    def start_aiond(self, extra_env=None, roles="all"):
        """extra_env: variables set on top of the ones below (bench/hotpath.py's variants). roles "split":
        a control role and a gateway role in front of it over gRPC; "split3": and a module host role."""
        self.gw, self.ctl, self.grpc = free_port(), free_port(), free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AION_", "OPENAI_", "AZURE_OPENAI_", "HF_", "VLLM_", "OLLAMA_"))}
        env.update({
            "AION_GATEWAY_PORT": str(self.gw), "AION_CONTROL_PORT": str(self.ctl),
            "AION_GATEWAY_GRPC_PORT": str(self.grpc), "AION_BIND_ADDRESS": "127.0.0.1",
            "AION_GATEWAY_API_KEYS": f"{KEY}:admin|manager", "AION_POLICY_DIR": self.args.policy_dir,
            "AION_DATA_DIR": str(self.data_dir), "AION_LOG_LEVEL": "warn",
            "AION_MODULE_DIR": str(Path(self.args.build) / "modules"),
            "AION_QUEUE_MAX": "1000000",  # submissions outrun the workers: queue, do not shed
            "AION_RATE_LIMIT_MAX": "0", "AION_RATE_LIMIT_PER_IP": "0",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{self.up_port}/v1", "OPENAI_API_KEY": "bench",
        })
        if self.args.workers:
            env["AION_WORKERS"] = str(self.args.workers)
        if self.args.store_sync:
            env["AION_STORE_SYNC"] = self.args.store_sync
        env.update(extra_env or {})
        if roles == "all":
            self.aiond = self.spawn_aiond(env, None, "aiond.log")
            return
        internal = free_port()
        if roles == "split3":
            mh = free_port()
            self.spawn_aiond({**env, "AION_MODHOST_GRPC_PORT": str(mh), "AION_MODHOST_PORT": str(free_port()),
                              "AION_DATA_DIR": str(self.data_dir / "modhost")}, "modhost", "modhost.log", "health")
            env["AION_MODHOST_GRPC"] = f"127.0.0.1:{mh}"
        self.spawn_aiond({**env, "AION_GATEWAY_PORT": "0", "AION_GATEWAY_GRPC_PORT": "0",
                          "AION_CONTROL_GRPC_PORT": str(internal)}, "control", "control.log")
        # The gateway's process is the one whose exit the callers watch (self.aiond).
        self.aiond = self.spawn_aiond({**env, "AION_CONTROL_PORT": "0",
                                       "AION_CONTROL_GRPC": f"127.0.0.1:{internal}"}, "gateway", "aiond.log")
        self.wait_control_connected()

    def spawn_aiond(self, env, role, log_name, ready="control"):
        """One aiond process (role None: all roles); returns once it printed its `ready` line."""
        log = open(self.tmp / log_name, "wb")
        argv = [str(Path(self.args.build) / "aiond")] + (["--role", role] if role else [])
        p = self.spawn(argv, env=env, stdout=subprocess.PIPE, stderr=log)
        self.aionds.append(p)
        lines = []
        while True:
            line = p.stdout.readline().decode()
            if not line:
                raise SystemExit(f"aiond {role or ''} did not start:\n" + "".join(lines) +
                                 (self.tmp / log_name).read_text())
            lines.append(line)
            if line.strip().startswith(ready):
                return p

    def wait_control_connected(self, timeout=30):
        """A gateway role is ready once its Watch stream to the control plane delivered the models."""
        end = time.time() + timeout
        while time.time() < end:
            st, _ = request(self.gw, "GET", "/readyz")
            if st == 200:
                return
            time.sleep(0.05)
        raise SystemExit("the gateway role did not connect to its control plane")

    def start_reference(self, name, argv):
        port = free_port()
        env = {**os.environ, "PROXY_PORT": str(port), "UPSTREAM_PORT": str(self.up_port)}
        p = self.spawn(argv, env=env, stdout=subprocess.DEVNULL)
        wait_listening(port, p, name)
        return port, p

    # -- checks -------------------------------------------------------------------
    def upstream_chats(self):
        return json.loads(request(self.up_port, "GET", "/bench/stats")[1])["chat"]

    def check_chat_path(self):
        """One chat completion through aiond must come back with the upstream's answer."""
        auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        st, data = request(self.gw, "GET", "/v1/models", headers=auth)
        models = [m["id"] for m in json.loads(data)["data"]] if st == 200 else []
        if CHAT["model"] not in models:
            raise SystemExit(f"GET /v1/models -> {st} {data[:300]!r}: no model '{CHAT['model']}'")
        before = self.upstream_chats()
        st, data = request(self.gw, "POST", "/v1/chat/completions", CHAT, auth)
        content = chat_content(data)
        calls = self.upstream_chats() - before
        if st != 200 or content != ANSWER or calls != 1:
            raise SystemExit(f"aiond does not reach the upstream: {st} {data[:500]!r}, upstream calls {calls}\n"
                             f"(is the openai provider routed? see {self.tmp / 'aiond.log'})")
        print(f"check: /v1/chat/completions through aiond -> upstream answered {content!r} "
              f"(1 upstream call), route via the openai provider")

    # -- load ---------------------------------------------------------------------
    def load(self, argv, rate, conns=None, duration=None, warmup=None):
        """conns, duration, warmup: this run's, instead of the command line's."""
        a = self.args
        conns = conns or a.conns
        duration = duration or a.duration
        warmup = a.warmup if warmup is None else warmup
        cmd = [self.loadgen, *argv, "--conns", str(conns), "--duration", str(duration),
               "--warmup", str(warmup)]
        if rate:
            cmd += ["--rate", str(rate)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration * 4 + warmup + 120)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if out.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr}")
        rep = json.loads(out.stdout.strip().splitlines()[-1])
        rep["client_cpu_s"] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return rep

    def http_args(self, port, path, method="GET", body=None, headers=()):
        argv = ["http", "--url", f"http://127.0.0.1:{port}{path}", "--method", method]
        if body is not None:
            f = self.tmp / f"body-{len(list(self.tmp.glob('body-*')))}.json"
            f.write_text(json.dumps(body))
            argv += ["--body-file", str(f)]
        for h in headers:
            argv += ["--header", h]
        return argv

    def drain(self, timeout=None):
        """Waits until aiond has no task left to run, so a phase does not pay for the last one's backlog."""
        headers = {"X-API-Key": KEY}
        start = time.time()
        while True:
            n = 0
            for st in ("routed", "queued", "running"):
                _, data = request(self.gw, "GET", f"/v1/tasks?status={st}&limit=1", headers=headers)
                n += len(json.loads(data)["items"])
            if not n:
                return time.time() - start
            if timeout and time.time() - start > timeout:
                raise SystemExit(f"tasks still routed, queued or running after {timeout} s")
            time.sleep(0.05)

    def run_phase(self, key, phase, rate):
        """One load run (rate 0: saturation); records RSS and CPU of the phase's server around it."""
        pid, drain = phase.pid, phase.drain
        before = proc_stats(pid)
        ups_before = self.upstream_chats()
        perf = None
        if self.args.perf and not rate and key == self.args.perf_phase:
            # Call graphs of the server while it is saturated (perf report -i FILE --no-children).
            perf = subprocess.Popen(["perf", "record", "-q", "-F", "499", "-g", "-p", str(pid),
                                     "-o", self.args.perf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rep = self.load(phase.argv, rate)
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(60)
        rep["upstream_calls"] = self.upstream_chats() - ups_before
        after = proc_stats(pid)
        rep["server_cpu_s"] = after["cpu"] - before["cpu"]
        rep["server_rss_kib"] = after["VmRSS"]
        rep["server_hwm_kib"] = after["VmHWM"]
        if drain:
            rep["drain_s"] = self.drain()
            rep["server_cpu_with_drain_s"] = proc_stats(pid)["cpu"] - before["cpu"]
        print(f"  {key + ' ' + phase.name:48} {'fixed ' + str(rate) + '/s' if rate else 'saturation':>16}: "
              f"{rep['rps']:>7} ok/s, p50 {rep['latency_us']['p50']:>6} us, p99 {rep['latency_us']['p99']:>7} us, "
              f"errors {rep['errors']}" + (f", drained in {rep['drain_s']:.1f} s" if drain else ""), flush=True)
        return rep


def fixed_rate(sat_rps):
    """Half the slower saturation, capped at the aim's 2k RPS, rounded to 50."""
    return max(50, min(AIM_RATE, int(0.5 * sat_rps) // 50 * 50))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--policy-dir", default=str(REPO / "policies"), help="shipped policies (chat -> openai)")
    ap.add_argument("--duration", type=float, default=5, help="seconds recorded per phase")
    ap.add_argument("--warmup", type=float, default=1, help="seconds run before recording")
    ap.add_argument("--conns", type=int, default=16, help="client connections")
    ap.add_argument("--workers", type=int, default=0, help="AION_WORKERS (default: aiond's)")
    ap.add_argument("--store-sync", choices=["full", "normal"], help="AION_STORE_SYNC (default: aiond's, full)")
    ap.add_argument("--skip-grpc", action="store_true")
    ap.add_argument("--skip-reference", action="store_true", help="no Node/Python/C++ pass-through proxies")
    ap.add_argument("--data-parent", metavar="DIR",
                    help="put aiond's data dir (SQLite) under DIR, e.g. /dev/shm to take fsync out")
    ap.add_argument("--json", help="also write every report here")
    ap.add_argument("--perf", metavar="FILE", help="perf record the server during one saturation run into FILE")
    ap.add_argument("--perf-phase", default="B", help="the phase --perf profiles (default B)")
    args = ap.parse_args()
    for exe in (Path(args.build) / "aiond", Path(args.build) / "bench" / "aion_loadgen"):
        if not exe.exists():
            raise SystemExit(f"{exe} not built: run ./scripts/build.sh")

    tmp = Path(tempfile.mkdtemp(prefix="aion-gwbench-"))
    b = Bench(args, tmp)
    try:
        b.start_upstream()
        b.start_aiond()
        b.check_chat_path()
        run(b, args, tmp)
    finally:
        b.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(b.data_dir, ignore_errors=True)


@dataclass
class Phase:
    name: str
    argv: list          # aion_loadgen arguments
    pid: int            # the server whose CPU and RSS are recorded
    baseline: str = None  # key of the phase it is compared with
    reference: bool = False  # a Node/Python/C++ proxy: skip its fixed rate when it cannot sustain it
    drain: bool = False  # submissions: wait for the task backlog afterwards


def phases_of(b, args, tmp):
    aiond, up = b.aiond.pid, b.upstream.pid
    json_type = "Content-Type: application/json"
    chat_auth = (f"Authorization: Bearer {KEY}", json_type)
    task_body = {"schemaVersion": "1.0", "intent": "summarize", "params": {"text": TEXT}}
    (tmp / "text.txt").write_text(TEXT)
    ph = {
        "A": Phase("upstream direct: POST /v1/chat/completions",
                   b.http_args(b.up_port, "/v1/chat/completions", "POST", CHAT, (json_type,)), up),
        "B": Phase("aiond: POST /v1/chat/completions",
                   b.http_args(b.gw, "/v1/chat/completions", "POST", CHAT, chat_auth), aiond, "A"),
        "C": Phase("aiond: GET /healthz", b.http_args(b.gw, "/healthz"), aiond),
        "D": Phase("aiond REST: POST /v1/tasks (summarize 1 KB)",
                   b.http_args(b.gw, "/v1/tasks", "POST", task_body, (f"X-API-Key: {KEY}", json_type)),
                   aiond, "C", drain=True),
    }
    if not args.skip_grpc:
        ph["E"] = Phase("aiond gRPC: AionTasks/Submit (same task)",
                        ["grpc", "--target", f"127.0.0.1:{b.grpc}", "--api-key", KEY, "--text-file",
                         str(tmp / "text.txt")], aiond, "C", drain=True)
    if not args.skip_reference:
        here = Path(__file__).resolve().parent / "reference"
        refs = [("N", "Node", ["node", str(here / "proxy.js")])] if shutil.which("node") else []
        refs.append(("P", "Python", [sys.executable, str(here / "proxy.py")]))
        for key, lang, argv in refs:
            port, p = b.start_reference(f"{lang} proxy", argv)
            ph[key] = Phase(f"bare {lang} proxy: POST /v1/chat/completions",
                            b.http_args(port, "/v1/chat/completions", "POST", CHAT, (json_type,)), p.pid, "A",
                            reference=True)
        if has_bare_proxy(b.loadgen):
            b.start_bare_proxy()
            ph["X"] = Phase("bare C++ proxy: POST /v1/chat/completions",
                            b.http_args(b.bare_port, "/v1/chat/completions", "POST", CHAT, (json_type,)),
                            b.bare.pid, "A", reference=True)
        else:
            print(f"no bare C++ proxy: {b.loadgen} predates `aion_loadgen proxy`")
    return ph


def run(b, args, tmp):
    rss_idle = proc_stats(b.aiond.pid)
    up_idle = proc_stats(b.upstream.pid)
    phases = phases_of(b, args, tmp)
    res = {k: {"name": p.name, "baseline": p.baseline, "reference": p.reference} for k, p in phases.items()}
    print(f"\nsaturation: closed loop, {args.conns} connections, {args.warmup:g} s warm-up + {args.duration:g} s")
    for k, p in phases.items():
        res[k]["sat"] = b.run_phase(k, p, 0)
    # One rate per comparison group, so a phase and its baseline see the same load.
    chat_rate = fixed_rate(min(res["A"]["sat"]["rps"], res["B"]["sat"]["rps"]))
    task_keys = [k for k in ("C", "D", "E") if k in res]
    task_rate = fixed_rate(min(res[k]["sat"]["rps"] for k in task_keys))
    print(f"\nfixed rate: open loop, {args.conns} connections; chat group {chat_rate}/s, task group {task_rate}/s")
    for k, p in phases.items():
        rate = task_rate if k in task_keys else chat_rate
        if p.reference and res[k]["sat"]["rps"] < 1.25 * rate:
            res[k]["fixed"] = None  # would only measure its queue: say so instead
            print(f"  {k} {p.name}: skipped, saturates at {res[k]['sat']['rps']}/s")
            continue
        res[k]["fixed"] = b.run_phase(k, p, rate)
    meta = {"conns": args.conns, "duration": args.duration, "warmup": args.warmup,
            "workers": args.workers or "default", "cpus": os.cpu_count(), "chat_rate": chat_rate,
            "task_rate": task_rate, "aiond_idle": rss_idle, "aiond_end": proc_stats(b.aiond.pid),
            "upstream_idle": up_idle, "upstream_end": proc_stats(b.upstream.pid)}
    print_report(res, meta)
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "phases": res}, indent=1))


if __name__ == "__main__":
    main()
