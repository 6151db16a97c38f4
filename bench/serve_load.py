"""``python -m bench.serve_load``: drive ``parloir serve`` over HTTP and measure it.

Starts ``parloir serve`` on a fresh SQLite file (or PostgreSQL with ``--database-url``) on
127.0.0.1, sets up an agent, a bot key and conversations through the API, then runs a load
generator in a separate process (open loop: requests leave at fixed intervals whatever the
answers; at most ``--max-in-flight`` outstanding, beyond which a send counts as an error):

1. single appends at rising rates: the highest rate whose p99 latency stays under 50 ms with
   0 errors is the sustained append rate;
2. batch ingestion: ``--batch-clients`` clients each posting batches of 1,000 messages;
3. the soak: ``--soak`` seconds of appends at the sustained rate (at most the goal's 1,000/s),
   with the server's RSS (all its processes) before and after. The goal counts as met only if
   the soak too keeps p99 under 50 ms with 0 errors.

Traffic goes to loopback only, and every phase is bounded in count and time. The result is
printed as a markdown section and written to ``bench/results/serve_load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench import rawhttp

ROOT = Path(__file__).resolve().parent.parent
JSON_PATH = ROOT / "bench" / "results" / "serve_load.json"
P99_BUDGET_MS = 50.0
GOALS = {"appends_per_s": 1_000, "batched_items_per_s": 20_000}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.serve_load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="short steps and soak (~1 min)")
    parser.add_argument(
        "--rates",
        default="250,500,750,1000,1250,1500,2000",
        help="append rates to try, per second, ascending",
    )
    parser.add_argument("--step", type=float, default=None, help="seconds per rate (full: 20)")
    parser.add_argument("--soak", type=float, default=None, help="seconds of soak (full: 300)")
    parser.add_argument("--batch-seconds", type=float, default=None, help="full: 20")
    parser.add_argument("--batch-clients", type=int, default=2)
    parser.add_argument(
        "--workers", type=int, default=1, help="server worker processes (SQLite: 1 is best)"
    )
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--max-in-flight", type=int, default=256)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--json", type=Path, default=JSON_PATH)
    args = parser.parse_args(argv)
    full = {"step": 20.0, "soak": 300.0, "batch_seconds": 20.0}
    quick = {"step": 4.0, "soak": 10.0, "batch_seconds": 5.0}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``parloir serve`` in its own process group, on loopback."""

    def __init__(self, args: argparse.Namespace, home: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PARLOIR_HOME": str(home)}
        if args.database_url:
            env["PARLOIR_DATABASE_URL"] = args.database_url
        command = [
            str(ROOT / ".venv" / "bin" / "parloir"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(args.workers),
            "--json",
        ]
        self.process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        self.credentials = json.loads(self.process.stdout.readline() + self._rest_of_json())
        self._wait_ready()

    def _rest_of_json(self) -> bytes:
        assert self.process.stdout is not None
        lines = []
        while True:
            line = self.process.stdout.readline()
            lines.append(line)
            if line.startswith(b"}") or not line:
                return b"".join(lines)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("parloir serve did not become ready")

    def rss(self) -> int:
        """Resident memory of the server and its worker processes, in bytes."""
        parent = psutil.Process(self.process.pid)
        return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def setup(url: str, credentials: dict[str, str], conversations: int) -> dict[str, Any]:
    """Log in, create an agent, a bot key and conversations; return what the load needs."""
    with httpx.Client(base_url=url, timeout=30) as client:
        login = client.post(
            "/v1/auth/login",
            json={"username": credentials["username"], "password": credentials["password"]},
        )
        owner = {"Authorization": "Bearer " + login.raise_for_status().json()["token"]}
        agent = client.post("/v1/agents", json={"name": "load"}, headers=owner).json()
        key = client.post(
            "/v1/api-keys", json={"name": "load", "agent_id": agent["id"]}, headers=owner
        ).json()["key"]
        bot = {"Authorization": "Bearer " + key}
        ids = []
        for n in range(conversations):
            made = client.post(
                "/v1/conversations",
                headers=bot,
                json={"agent_id": agent["id"], "channel": "api", "external_id": f"load-{n}"},
            )
            ids.append(made.raise_for_status().json()["id"])
    return {"headers": bot, "conversations": ids}


def _pick(ordered: list[float], q: float) -> float | None:
    """The ``q`` quantile of sorted latencies (None if there are none)."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _open_loop(
    url: str, plan: dict[str, Any], rate: float, seconds: float, max_in_flight: int, tag: str
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()  # by kind: an answer's status, an exception, an overflow
    in_flight = 0
    conversations = plan["conversations"]
    host, _, port = url.removeprefix("http://").partition(":")
    pool = rawhttp.Pool(host, int(port), plan["headers"], max_in_flight)

    async def one(n: int) -> None:
        nonlocal errors, in_flight
        in_flight += 1
        conversation = conversations[n % len(conversations)]
        body = {
            "role": "user" if n % 2 else "assistant",
            "content": f"{tag} message {n}",
            "idempotency_key": f"{tag}-{n}",
        }
        request = pool.request("POST", f"/v1/conversations/{conversation}/messages", body)
        started = time.perf_counter()
        try:
            status, _ = await pool.send(request, timeout=10)
            if status != 201:
                errors[f"status {status}"] += 1
            else:
                latencies.append((time.perf_counter() - started) * 1000)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as error:
            errors[type(error).__name__] += 1
        finally:
            in_flight -= 1

    pending: set[asyncio.Task[None]] = set()  # only those in flight: a done task is let go
    total = int(rate * seconds)
    start = time.perf_counter()
    for n in range(total):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if in_flight >= max_in_flight:
            errors[f"over {max_in_flight} in flight"] += 1
            continue
        task = asyncio.create_task(one(n))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    elapsed = time.perf_counter() - start
    pool.close()
    latencies.sort()
    return {
        "rate": rate,
        "sent": total,
        "ok": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "achieved_per_s": len(latencies) / elapsed,
        "p50_ms": _pick(latencies, 0.50),
        "p99_ms": _pick(latencies, 0.99),
    }


async def _batches(url: str, plan: dict[str, Any], seconds: float, clients: int) -> dict[str, Any]:
    items_done = 0
    errors = 0
    conversations = plan["conversations"]
    deadline = time.perf_counter() + seconds

    async def client_loop(c: int) -> None:
        nonlocal items_done, errors
        async with httpx.AsyncClient(base_url=url, headers=plan["headers"], timeout=60) as http:
            n = 0
            while time.perf_counter() < deadline:
                conversation = conversations[(c * 7919 + n) % len(conversations)]
                items = [
                    {
                        "type": "message",
                        "conversation_id": conversation,
                        "body": {
                            "role": "user",
                            "content": f"batch {c}-{n}-{i}",
                            "idempotency_key": f"b{c}-{n}-{i}",
                        },
                    }
                    for i in range(1000)
                ]
                answer = await http.post("/v1/batch", json={"items": items})
                if answer.status_code == 207 and answer.json()["created"] == 1000:
                    items_done += 1000
                else:
                    errors += 1
                n += 1

    start = time.perf_counter()
    await asyncio.gather(*(client_loop(c) for c in range(clients)))
    elapsed = time.perf_counter() - start
    return {"items": items_done, "errors": errors, "items_per_s": items_done / elapsed}


def _raw_floor(path: str, rate: float, seconds: float) -> dict[str, Any]:
    """The disk's own share: raw sqlite3 at ``rate`` one-row commits per second (WAL, FULL),
    open loop, each latency counted from the moment the commit was due, as a request's is."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE chat (id INTEGER PRIMARY KEY, session_id TEXT, message TEXT)")
    connection.execute("CREATE INDEX chat_session ON chat (session_id, id)")
    latencies: list[float] = []
    start = time.perf_counter()
    for n in range(int(rate * seconds)):
        due = start + n / rate
        if due > time.perf_counter():
            time.sleep(due - time.perf_counter())
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO chat (session_id, message) VALUES (?, ?)", (n % 200, "m"))
        connection.execute("COMMIT")
        latencies.append((time.perf_counter() - due) * 1000)
    connection.close()
    latencies.sort()
    return {"p99_ms": _pick(latencies, 0.99), "max_ms": latencies[-1]}


GENERATORS = {"open_loop": "_open_loop", "batches": "_batches", "raw_floor": "_raw_floor"}


def _in_process(name: str, *args: Any) -> Any:
    """Run the load generator ``name`` in a separate Python process; return its result."""
    command = [sys.executable, "-m", "bench.serve_load", "--generate", json.dumps([name, args])]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"load generator {name} failed:\n{done.stderr.decode(errors='replace')}")
    return json.loads(done.stdout)


def _generate(spec: str) -> None:
    name, args = json.loads(spec)
    target = globals()[GENERATORS[name]]
    # The generator's own collections would show as server latency: keep them short by
    # freezing what was loaded before the first request.
    gc.collect()
    gc.freeze()
    result = target(*args)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    print(json.dumps(result))


def run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="parloir-serve-load-"))
    server = Server(args, home)
    try:
        plan = setup(server.url, server.credentials, args.conversations)
        steps = []
        sustained = 0.0
        for rate in (float(r) for r in args.rates.split(",")):
            step = _in_process(
                "open_loop", server.url, plan, rate, args.step, args.max_in_flight, f"r{int(rate)}"
            )
            if not args.database_url:  # the same disk, written alone at the same rate
                floor = str(home / f"raw-{int(rate)}.db")
                step["raw"] = _in_process("raw_floor", floor, rate, args.step)
            steps.append(step)
            print(
                f"  {rate:>6.0f}/s: p50 {step['p50_ms']} ms, p99 {step['p99_ms']} ms, "
                f"errors {step['errors']}{_kinds(step)}, "
                f"raw sqlite3 p99 {step.get('raw', {}).get('p99_ms')} ms",
                file=sys.stderr,
            )
            if not _held(step):
                break
            sustained = rate
        batch = _in_process("batches", server.url, plan, args.batch_seconds, args.batch_clients)
        rss_before = server.rss()
        soak = _in_process(
            "open_loop",
            server.url,
            plan,
            min(max(sustained, 50.0), GOALS["appends_per_s"]),
            args.soak,
            args.max_in_flight,
            "soak",
        )
        rss_after = server.rss()
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
    return {
        "workers": args.workers,
        "database": args.database_url or "sqlite (fresh file)",
        "step_seconds": args.step,
        "steps": steps,
        "sustained_appends_per_s": sustained,
        "batch": batch,
        "soak": {**soak, "seconds": args.soak, "rss_before": rss_before, "rss_after": rss_after},
        "quick": args.quick,
    }


def markdown(result: dict[str, Any]) -> str:
    """The report section for docs/benchmarks.md."""
    soak = result["soak"]
    mib = 1024 * 1024
    lines = [
        "## REST server (`parloir serve`)",
        "",
        f"{result['workers']} worker(s), {result['database']}, load from a separate process "
        f"on loopback, {result['step_seconds']:.0f} s per rate."
        + (" **Quick run: figures are indicative only.**" if result["quick"] else ""),
        "",
        "| rate tried (appends/s) | achieved | p50 ms | p99 ms | errors "
        "| raw sqlite3 at this rate: p99 ms (max) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for step in result["steps"]:
        raw = step.get("raw")
        floor = f"{raw['p99_ms']:.1f} ({raw['max_ms']:.0f})" if raw else "-"
        lines.append(
            f"| {step['rate']:.0f} | {step['achieved_per_s']:.0f} | "
            f"{step['p50_ms'] or 0:.1f} | {step['p99_ms'] or 0:.1f} | {step['errors']} | {floor} |"
        )
    appends, items = result["sustained_appends_per_s"], result["batch"]["items_per_s"]
    # Sustained means the soak too: five minutes at the rate found (at most the goal), same budget.
    verdict_appends = "PASS" if appends >= GOALS["appends_per_s"] and _held(soak) else "MISS"
    verdict_items = "PASS" if items >= GOALS["batched_items_per_s"] else "MISS"
    lines += [
        "",
        "The last column is the disk alone, measured right after each step: raw sqlite3 "
        "committing one row at a time at that rate (WAL + FULL, open loop, each latency from the "
        "moment the commit was due). A stall of the disk's fsync delays every request behind it: "
        "where that p99 is above the budget, the disk alone failed it in the same minute.",
        "",
        f"- Sustained single appends (p99 < {P99_BUDGET_MS:.0f} ms, 0 errors, in a step and over "
        f"the whole soak): **{appends:.0f}/s** in the steps; the soak at {soak['rate']:.0f}/s: p50 "
        f"{soak['p50_ms'] or 0:.1f} ms, p99 {soak['p99_ms'] or 0:.1f} ms, {soak['errors']} errors"
        f"{_kinds(soak)} (goal {GOALS['appends_per_s']:,}: {verdict_appends}).",
        f"- Batch ingestion (batches of 1,000): **{items:,.0f} items/s**, "
        f"{result['batch']['errors']} errors (goal {GOALS['batched_items_per_s']:,}: "
        f"{verdict_items}).",
        f"- Server RSS before / after {soak['seconds']:.0f} s of appends at {soak['rate']:.0f}/s: "
        f"{soak['rss_before'] / mib:.0f} MiB / {soak['rss_after'] / mib:.0f} MiB "
        f"({soak['errors']} errors).",
    ]
    return "\n".join(lines) + "\n"


def _kinds(run: dict[str, Any]) -> str:
    """`` (3 status 503, 1 TimeoutError)``: what a run's errors were, if any."""
    kinds = run.get("error_kinds") or {}
    return (
        " (" + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) + ")" if kinds else ""
    )


def _held(run: dict[str, Any]) -> bool:
    """Whether a run (a step or the soak) kept the budget: p99 under it and no error."""
    p99 = run.get("p99_ms")
    return run["errors"] == 0 and p99 is not None and p99 < P99_BUDGET_MS


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--generate"]:
        _generate(argv[1])
        return
    args = parse_args(argv)
    result = run(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    text = markdown(result)
    print(text)
    from bench import sections  # here: the import children stay light

    sections.record("serve_load", text, quick=args.quick or args.soak < 300)


if __name__ == "__main__":
    main()
