"""Benchmark the simulator alone (#10): can it drive the demo's 12,668 workers at one fix
per 30 s (≈ 422 fixes/s) from this machine, when the server is not what limits it?

    python bench/simulator.py [--workers 12668] [--seconds 120] [--threads 32] [--small]

`geo-service serve` over the full demo (`--small`: Hezuo only) in a temporary SQLite file
answers what the simulator learns at setup and its reports, cases and visits; between
the two sits a stub on 127.0.0.1 (asyncio, in this process) that answers the position
and duty POSTs itself at once (200, as the service would: nothing flagged, no
duplicates) and passes every other request through. `geo-service simulate --token
<admin>` runs against the stub; the stub counts the POSTs and fixes it receives
(independently of the simulator's own summary lines). Measured once every phone is on
shift and one fix interval has passed: for `--seconds`, fixes/s and POSTs/s the stub
received, the simulator's CPU (its process: user + system) and its scheduler lag.

What this shows is the simulator's own ceiling on this machine; what the service takes
is bench/fanout.py's (the same simulator against `geo-service serve` itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams import Server, free_port, log  # noqa: E402

from boundaries.synthetic import build_demo  # noqa: E402
from geo_service.app import create_app, services  # noqa: E402
from geo_service.auth import create_token  # noqa: E402
from geo_service.demo import load_demo  # noqa: E402
from geo_service.store.uow import unit_of_work  # noqa: E402

LINE = re.compile(r"\[\s*(\d+) s\].* fixes ([\d,]+) in ([\d,]+) batches.*on shift ([\d,]+)"
                  r".*errors ([\d,]+).*lag ([\d.]+) s")


def load_text() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def cpu_s(pid: int) -> float:
    with contextlib.suppress(OSError):
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


class Stub:
    """Answers POST …/positions and POST …/duty at once; passes the rest to `upstream`."""

    def __init__(self, upstream: int) -> None:
        self.upstream, self.port = upstream, free_port()
        self.posts = self.fixes = self.duties = self.passed = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=1024))
        self.ready.set()
        with contextlib.suppress(RuntimeError):
            self.loop.run_until_complete(server.serve_forever())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                      ) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            first, *lines = head.decode("latin-1").split("\r\n")
            method, path = first.split(" ")[:2]
            length = next((int(v) for k, _, v in (ln.partition(":") for ln in lines)
                           if k.strip().lower() == "content-length"), 0)
            body = await reader.readexactly(length) if length else b""
            if method == "POST" and path.endswith("/positions"):
                n = body.count(b'"recorded_at"')
                self.posts, self.fixes = self.posts + 1, self.fixes + n
                reply = {"stored": n, "duplicates": 0, "flagged": [], "rejected": [],
                         "status": "on_duty", "position": None}
            elif method == "POST" and path.endswith("/duty"):
                self.duties += 1
                reply = {"code": path.split("/")[-2], "status": "on_duty"}
            else:
                self.passed += 1
                up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream)
                up_w.write(head + body)
                await up_w.drain()
                writer.write(await up_r.read())
                up_w.close()
                await writer.drain()
                return
            data = json.dumps(reply).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(data),
                                                                                 data))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def counts(self) -> tuple[int, int, int]:
        return self.posts, self.fixes, self.duties


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=12_668)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--small", action="store_true")
    args = ap.parse_args()
    t_start, load_start = time.perf_counter(), load_text()
    demo = (build_demo(counties=["623001"], households=12_000, grids=60, groups=540)
            if args.small else build_demo())
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="geo-sim-")))
        url = f"sqlite:///{tmp}/bench.sqlite3"
        app = create_app({"DATABASE_URL": url}, migrate=True)
        with unit_of_work(services(app).engine) as uow:
            load_demo(uow.conn, demo=demo)
            admin = create_token(uow.conn, name="bench-admin", role="admin", actor="bench")
        services(app).close()
        log("demo loaded")
        server = stack.enter_context(Server(url, tmp))
        stub = Stub(server.port)
        env = {**os.environ, "GEO_DATABASE_URL": url}
        proc = subprocess.Popen(
            [sys.executable, "-m", "geo_service.cli", "simulate", "--url",
             f"http://127.0.0.1:{stub.port}", "--token", admin, "--workers",
             str(args.workers), "--fix-every", "30", "--threads", str(args.threads),
             "--every", "5"], env=env, cwd=tmp, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        lines: list[dict[str, float]] = []
        text: list[str] = []
        target = [args.workers]  # the phones it will put on shift (its first line says)

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                text.append(line.rstrip())
                if m := re.match(r"simulating ([\d,]+) of", line):
                    target[0] = int(m.group(1).replace(",", ""))
                if m := LINE.search(line):
                    lines.append(dict(zip(("t", "fixes", "batches", "on_shift", "errors",
                                           "lag"), (float(g.replace(",", ""))
                                                    for g in m.groups()), strict=True)))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            t0 = time.perf_counter()
            while proc.poll() is None and time.perf_counter() - t0 < 600:
                time.sleep(1.0)
                if lines and lines[-1]["on_shift"] >= target[0] * 0.99:
                    break
            ramp = time.perf_counter() - t0
            log(f"on shift after {ramp:.0f} s: {text[-1] if text else '-'}")
            if os.environ.get("SIM_DEBUG"):
                print("\n".join(text), file=sys.stderr)
            time.sleep(30.0)  # one fix interval: every phone's rhythm set
            load0, c0, s0, w0 = load_text(), cpu_s(proc.pid), stub.counts(), time.perf_counter()
            lags = []
            while time.perf_counter() - w0 < args.seconds and proc.poll() is None:
                time.sleep(5.0)
                if lines:
                    lags.append(lines[-1]["lag"])
            took = time.perf_counter() - w0
            c1, s1 = cpu_s(proc.pid), stub.counts()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=600)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            reader.join(5)
    posts, fixes = (s1[0] - s0[0]) / took, (s1[1] - s0[1]) / took
    print(f"Run ended {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: `python bench/simulator.py "
          f"{' '.join(sys.argv[1:])}`, {time.perf_counter() - t_start:.0f} s in all; "
          f"{os.cpu_count()} cores, Python {platform.python_version()}; load average at the "
          f"start {load_start}, during the measurement {load0} → {load_text()}.\n")
    print("| measurement | value | notes |")
    print("| --- | --- | --- |")
    print(f"| phones on shift after | {ramp:.0f} s | every duty POST answered at once by "
          f"the stub ({s1[2]:,} in all) |")
    print(f"| fixes/s the stub received | **{fixes:.0f}** | goal "
          f"{target[0] / 30:.0f} (one per 30 s each, {target[0]:,} phones), over "
          f"{took:.0f} s |")
    print(f"| position POSTs/s | {posts:.0f} | {fixes / max(posts, 1e-9):.2f} fixes each |")
    print(f"| simulator CPU, cores | {(c1 - c0) / took:.2f} | its process, user + system; "
          f"--threads {args.threads} |")
    print(f"| scheduler lag during the measurement, s | {min(lags, default=0):.1f}–"
          f"{max(lags, default=0):.1f} | how late its last task started |")
    print("\nThe simulator's last lines:\n\n```\n" + "\n".join(text[-4:]) + "\n```")


if __name__ == "__main__":
    main()
