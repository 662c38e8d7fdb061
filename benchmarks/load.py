"""Load: 1,000 simulated users talking at once to the real bot process through a local fake Bot
API server — questions, red flags and whole /triage flows — measured against a minimal echo bot
(`benchmarks/echo_bot.py`) on the same harness in the same run. Run by hand:

    python benchmarks/load.py [users] [think seconds] [--rounds N] [--only bot|echo] [--profile]

The fake server and the users live in this process on one asyncio loop (aiohttp's server), so the
stand-in for Telegram adds as little of its own queueing as it can on the machine's second core;
the bot runs as its own process (`python -m bot run`). Each user sends one update, waits for the
reply, thinks 0.5–1.5 × `think` seconds (default 2), then sends the next; 1,000 users thinking 2 s
offer about 500 updates/s. With think 0 it is a closed loop that finds the ceiling. The bot runs
with BOT_RATE_LIMIT=off: Telegram itself would pace a real bot to about 30 messages/s, which is
what this measures beyond.

Absolute figures drift between machines (and between runs on a shared VM), so each round runs the
echo bot and the real bot one after the other on the same harness (the order alternates between
rounds: echo, bot, bot, echo, …) and the report gives, for each, updates/s, p50/p99/max time from
update to reply, the bot process's CPU per update (from /proc/<pid>/stat, measured from the first
simulated update to the last reply, so start-up is not in it) and peak resident memory; then the
ratios bot/echo, which travel between machines better than the absolute figures. Both bots get
the same script, and each answers every update with exactly one message (a sendMessage or an
editMessageText: what a user waits for), which the report counts. The echo bot answers a press
(answerCallbackQuery) and sends one message; as it sends no buttons, a press to it carries
`echo:<choice>` on its last message, where the bot's carries the pressed button's data.

A process is measured only once it is ready: once its first getUpdates reaches the fake server
and it has answered one /start (its first replies pay for imports and connections).

--profile runs each bot under a profiler and prints the top 25 functions by cumulative and by own
time, and the own time per package: py-spy (sampling, attached for the measured part only) when
`py-spy` is on PATH or in PY_SPY, else cProfile (`python -m cProfile -o FILE -m bot run`, stopped
with SIGINT so the profile is written; start-up is in it, and it doubles the bot's CPU per update,
so its figures are not comparable with unprofiled ones). --profiler chooses. PY_SPY=/path/to/py-spy
names a py-spy outside PATH (e.g. `pip install --target /tmp/pyspy py-spy`: /tmp/pyspy/bin/py-spy).

The echo bot uses the same HTTP client as the bot (BOT_HTTP, default aiohttp: the bot's
`bot/transport.py`), so that bot/echo is what the bot does per update beyond the library and the
transport. --echo-http httpx gives it python-telegram-bot's own client, which is far from a floor
under this load: 154 updates/s and 5.7 ms of CPU per update at `300 0`, against 1,558/s and
0.48 ms with aiohttp, on a 2-core VM (README: Load, on httpx's connection pool).

LOAD_ROOT=/path/to/a/worktree runs the bot of another checkout (e.g. `git worktree add
/tmp/main-head HEAD`), with this file's echo bot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fake_telegram import BOT

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("LOAD_ROOT") or HERE.parent).resolve()
ECHO = HERE / "echo_bot.py"
SCRIPT = [
    ("text", "how long should i ice my back"),
    ("text", "when can i switch to heat"),
    ("text", "i cant feel it when i wipe"),
    ("text", "/triage"),
    *[("press", "no")] * 14,
    ("press", "lower"),
    ("press", "days_1_3"),
    ("press", "mild"),
    ("press", "lifting"),
    ("press", "nothing"),
    ("press", "better"),
]
#: The Bot API methods whose call is the reply a user waits for.
REPLIES = ("sendMessage", "editMessageText")
#: How long a process may take to reach its first getUpdates (a content edit retrains for ~15 s).
READY_TIMEOUT = 180.0
#: How long a user waits for one reply before the run is called failed.
REPLY_TIMEOUT = 60.0
KINDS = ("echo", "bot")
#: py-spy's samples per second.
SPY_RATE = 200


class FakeBotApi:
    """Just enough of the Bot API for the load run (the bot's calls and the echo bot's), on one
    asyncio loop. Any other method is answered `true`."""

    def __init__(self) -> None:
        self.updates: list[dict] = []
        self.next_update = 1
        self.next_message = 1000
        self.arrived = asyncio.Event()
        self.polled = asyncio.Event()  # set by the first getUpdates: the process is ready
        self.last: dict[int, dict] = {}
        self.waiting: dict[int, asyncio.Future] = {}
        self.calls: Counter[str] = Counter()

    def push(self, update: dict) -> None:
        update["update_id"] = self.next_update
        self.next_update += 1
        self.updates.append(update)
        self.arrived.set()

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.read()
        params = {k: v[0] for k, v in parse_qs(body.decode()).items()} if body else {}
        self.calls[method] += 1
        result: object = True
        if method == "getMe":
            result = BOT
        elif method == "getUpdates":
            self.polled.set()
            offset = int(params.get("offset") or 0)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            if not self.updates:
                self.arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.arrived.wait(), float(params.get("timeout") or 0) or 0.01)
            result = self.updates[: int(params.get("limit") or 100)]
        elif method in REPLIES:
            chat = int(params["chat_id"])
            self.next_message += 1
            result = {
                "message_id": self.next_message,
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private"},
                "from": BOT,
                "text": params.get("text", ""),
            }
            if params.get("reply_markup"):
                result["reply_markup"] = json.loads(params["reply_markup"])
            self.last[chat] = result
            future = self.waiting.pop(chat, None)
            if future and not future.done():
                future.set_result(time.perf_counter())
        return web.json_response({"ok": True, "result": result})


def message(user: int, text: str) -> dict:
    data = {
        "message_id": 1,
        "date": int(time.time()),
        "chat": {"id": user, "type": "private"},
        "from": {"id": user, "is_bot": False, "first_name": "Pat"},
        "text": text,
    }
    if text.startswith("/"):
        data["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"message": data}


def press(api: FakeBotApi, user: int, value: str) -> dict:
    """A press of the button whose data ends in `value` on the user's last message; the echo bot
    sends no buttons, so there the press carries `echo:value` on its last message."""
    last = api.last[user]
    rows = last.get("reply_markup", {}).get("inline_keyboard")
    if rows is None:
        data = "echo:" + value
    else:
        data = next(b["callback_data"] for row in rows for b in row if b.get("callback_data", "").endswith(":" + value))
    return {
        "callback_query": {
            "id": str(random.random()),
            "from": {"id": user, "is_bot": False, "first_name": "Pat"},
            "chat_instance": "ci",
            "data": data,
            "message": last,
        }
    }


async def reply(api: FakeBotApi, user: int, update: dict) -> float:
    """Push the update and wait for the message that answers it: seconds from update to reply."""
    future = asyncio.get_running_loop().create_future()
    api.waiting[user] = future
    api.push(update)
    sent = time.perf_counter()
    try:
        return await asyncio.wait_for(future, REPLY_TIMEOUT) - sent
    except TimeoutError:
        raise RuntimeError(f"user {user}: no reply within {REPLY_TIMEOUT:.0f} s to {json.dumps(update)[:200]}") from None


async def user_session(api: FakeBotApi, user: int, think: float, rng: random.Random, latencies: list[float]) -> None:
    await asyncio.sleep(rng.uniform(0, think))
    for kind, value in SCRIPT:
        latencies.append(await reply(api, user, message(user, value) if kind == "text" else press(api, user, value)))
        await asyncio.sleep(rng.uniform(0.5, 1.5) * think)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def find_py_spy() -> str | None:
    return os.environ.get("PY_SPY") or shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


@dataclass
class Result:
    kind: str
    round: int
    updates: int
    elapsed: float
    latencies: list[float]
    cpu: float  # bot process CPU seconds over the measured part
    harness_cpu: float  # this process's CPU seconds over the same part
    rss_mb: float
    replies: int
    calls: Counter[str]
    profile: Path | None = None

    @property
    def rate(self) -> float:
        return self.updates / self.elapsed

    def pct(self, q: float) -> float:
        return self.latencies[min(len(self.latencies) - 1, int(len(self.latencies) * q))]

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.updates

    def line(self) -> str:
        calls = ", ".join(f"{m} {n / self.updates:.2f}" for m, n in self.calls.most_common() if m not in ("getUpdates", "getMe"))
        return (
            f"  {self.kind:<4} round {self.round + 1}: {self.updates} updates in {self.elapsed:.1f} s: {self.rate:,.0f} updates/s; "
            f"p50 {1000 * self.pct(0.5):.0f} ms, p99 {1000 * self.pct(0.99):.0f} ms, max {1000 * self.latencies[-1]:.0f} ms; "
            f"CPU {self.cpu_ms:.2f} ms/update ({100 * self.cpu / self.elapsed:.0f}% of a core; "
            f"harness {100 * self.harness_cpu / self.elapsed:.0f}%); "
            f"peak RSS {self.rss_mb:.0f} MB\n"
            f"       {self.replies} replies to {self.updates} updates; API calls per update: {calls}"
        )


async def wait_ready(api: FakeBotApi, process: subprocess.Popen, log: Path, what: str) -> None:
    """Until the process's first getUpdates reaches the fake server; fail at once if it exits."""
    polled = asyncio.ensure_future(api.polled.wait())
    deadline = time.monotonic() + READY_TIMEOUT
    try:
        while not polled.done():
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{what} exited with code {process.returncode} before polling:\n{tail}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not poll within {READY_TIMEOUT:.0f} s")
            await asyncio.wait([polled], timeout=0.05)
    finally:
        polled.cancel()


async def until_exit(work: asyncio.Future, process: subprocess.Popen, log: Path, kind: str) -> None:
    """Await `work`, but fail at once if the process exits meanwhile (rather than after every
    user's reply timeout)."""
    work = asyncio.ensure_future(work)
    while not work.done():
        await asyncio.wait([work], timeout=0.5)
        if process.poll() is not None and not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the {kind} process exited with code {process.returncode} during the run:\n{tail}")
    work.result()


async def start_py_spy(pid: int, output: Path) -> subprocess.Popen:
    """py-spy sampling the process (pausing it for each sample, so stacks are whole), once it says
    it is sampling."""
    command = [find_py_spy() or "py-spy", "record", "--pid", str(pid), "--rate", str(SPY_RATE), "--nolineno", "--format", "raw"]
    spy = subprocess.Popen([*command, "--output", str(output)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert spy.stdout is not None
    try:
        first = await asyncio.wait_for(asyncio.to_thread(spy.stdout.readline), 30)  # "py-spy> Sampling process…"
    except TimeoutError:
        first = "(nothing said in 30 s)"
    if "Sampling" not in first:
        spy.kill()
        said = spy.communicate()[0].strip()
        raise RuntimeError(f"py-spy did not start (--profiler cprofile does without it): {first.strip()} {said}")
    return spy


async def run_once(kind: str, rnd: int, users: int, think: float, profiler: str | None, echo_http: str) -> Result:
    """Start the fake server and one bot process, wait until it is ready, run the users, stop it."""
    api = FakeBotApi()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", api.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # the port the OS picked
    work = Path(tempfile.mkdtemp(prefix=f"load-{kind}-"))
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": "123456:LOAD",
        "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{port}/bot",
        "BOT_DATA_DIR": str(work / "data"),
        "BOT_RATE_LIMIT": "off",
        "ECHO_HTTP": echo_http,
    }
    env.pop("WEBHOOK_URL", None)
    target = ["-m", "bot", "run"] if kind == "bot" else [str(ECHO)]
    profile = None
    if profiler == "cprofile":
        profile = work / f"{kind}.prof"
        target = ["-m", "cProfile", "-o", str(profile), *target]
    log = work / "stderr.log"
    with log.open("wb") as err:
        process = subprocess.Popen([sys.executable, *target], cwd=ROOT if kind == "bot" else HERE, env=env, stderr=err)
    spy = None
    try:
        await wait_ready(api, process, log, f"the {kind} process")
        await reply(api, 1, message(1, "/start"))  # its first reply pays for imports and connections
        if profiler == "py-spy":
            profile = work / f"{kind}.txt"
            spy = await start_py_spy(process.pid, profile)
        api.calls.clear()
        rng = random.Random(5)
        latencies: list[float] = []
        cpu0, harness0, start = cpu_seconds(process.pid), time.process_time(), time.perf_counter()
        await until_exit(asyncio.gather(*(user_session(api, 100_000 + i, think, rng, latencies) for i in range(users))), process, log, kind)
        elapsed = time.perf_counter() - start
        cpu, harness = cpu_seconds(process.pid) - cpu0, time.process_time() - harness0
        await asyncio.sleep(0.2)  # a second message to any update would show in the count now
        replies = sum(api.calls[m] for m in REPLIES)
        rss = peak_rss_mb(process.pid)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            said = await asyncio.wait_for(asyncio.to_thread(spy.communicate), 60)
            errors = [line for line in said[0].splitlines() if "Errors:" in line]
            if errors and not errors[-1].rstrip().endswith("Errors: 0"):
                print(f"  py-spy ({kind}): {errors[-1].strip()}", file=sys.stderr)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # a clean stop; cProfile writes its file then
            try:
                await asyncio.to_thread(process.wait, 60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if spy is not None and spy.poll() is None:
            spy.kill()
            spy.wait()
        await runner.cleanup()
    if profile is None:
        shutil.rmtree(work, ignore_errors=True)
    latencies.sort()
    if replies != len(latencies):
        print(f"  warning: {kind} sent {replies} replies to {len(latencies)} updates", file=sys.stderr)
    return Result(kind, rnd, len(latencies), elapsed, latencies, cpu, harness, rss, replies, Counter(api.calls), profile)


def _where(path: str) -> str:
    """A profile's file name, short: from the package folder or the project on."""
    for marker in ("site-packages/", "/lib/python3."):
        if marker in path:
            rest = path.split(marker, 1)[1]
            return rest.split("/", 1)[1] if marker.startswith("/lib") else rest
    with contextlib.suppress(ValueError):
        return str(Path(path).relative_to(ROOT))
    with contextlib.suppress(ValueError):
        return str(Path(path).relative_to(HERE))
    return path


def _package(path: str) -> str:
    """The package (or stdlib module) a profiled function is in; "C" for built-ins."""
    where = _where(path)
    if where == "~":
        return "C built-ins"
    return where if where == path or where.startswith("<") else where.split("/", 1)[0].removesuffix(".py")


def _spy_where(file: str) -> str:
    """py-spy names a package's files from the package on, a script's by its name alone."""
    return f"bot/{file}" if "/" not in file and (ROOT / "bot" / file).exists() else file


def print_cprofile(result: Result, top: int = 25) -> None:
    import pstats

    stats = pstats.Stats(str(result.profile)).stats  # type: ignore[attr-defined]
    rows = [(f"{func} ({_where(file)}:{line})", nc, tt, ct, file) for (file, line, func), (cc, nc, tt, ct, callers) in stats.items()]
    total = sum(r[2] for r in rows)
    per = 1e6 / result.updates
    print(f"\n{result.kind}: cProfile, {total:.1f} s of profiled time (start-up included), {result.updates} updates ({result.profile})")
    for title, key in (("cumulative", 3), ("own (tottime)", 2)):
        print(f"  top {top} by {title}:  calls   own s  cum s  cum µs/update  function")
        for name, nc, tt, ct, _ in sorted(rows, key=lambda r: -r[key])[:top]:
            print(f"    {nc:>9} {tt:7.2f} {ct:6.2f} {ct * per:9.0f}  {name}")
    by_package: Counter[str] = Counter()
    for *_, tt, _ct, file in rows:
        by_package[_package(file)] += tt
    print("  own time per package: " + ", ".join(f"{p} {100 * t / total:.0f}%" for p, t in by_package.most_common(12)))


def print_py_spy(result: Result, top: int = 25) -> None:
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    samples = 0
    for line in Path(str(result.profile)).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [f for f in stack.split(";") if f]
        names, files = [], []
        for frame in frames:
            func, _, file = frame.partition(" (")
            files.append(_spy_where(file.removesuffix(")")))
            names.append(f"{func} ({files[-1]})")
        own[names[-1]] += n
        leaf = files[-1]
        by_package[leaf if leaf.startswith("<") else leaf.split("/", 1)[0].removesuffix(".py")] += n
        for name in set(names):
            cumulative[name] += n
    if not samples:
        print(f"\n{result.kind}: py-spy recorded no samples")
        return
    per = 1e6 / SPY_RATE / result.updates
    print(f"\n{result.kind}: py-spy, {samples} samples of the measured part, {result.updates} updates ({result.profile})")
    for title, counter in (("cumulative", cumulative), ("own", own)):
        print(f"  top {top} by {title}: % of samples, µs/update, function")
        for name, n in counter.most_common(top):
            print(f"    {100 * n / samples:5.1f}% {n * per:6.0f}  {name}")
    print("  own samples per package: " + ", ".join(f"{p} {100 * n / samples:.0f}%" for p, n in by_package.most_common(12)))


def summary(results: list[Result]) -> None:
    by_kind = {k: [r for r in results if r.kind == k] for k in KINDS}
    figures = {
        "updates/s": lambda r: r.rate,
        "p50 ms": lambda r: 1000 * r.pct(0.5),
        "p99 ms": lambda r: 1000 * r.pct(0.99),
        "max ms": lambda r: 1000 * r.latencies[-1],
        "CPU ms/update": lambda r: r.cpu_ms,
        "peak RSS MB": lambda r: r.rss_mb,
    }
    kinds = [k for k in KINDS if by_kind[k]]
    rounds = max(len(v) for v in by_kind.values())
    print(f"\nmedian of {rounds} round(s) (range):")
    print(f"  {'':<14}" + "".join(f"{k:>30}" for k in kinds) + ("   bot/echo (per-round range)" if len(kinds) == 2 else ""))
    for name, value in figures.items():
        cells = []
        for k in kinds:
            values = [value(r) for r in by_kind[k]]
            spread = f" ({min(values):,.2f}–{max(values):,.2f})" if len(values) > 1 else ""
            cells.append(f"{statistics.median(values):,.2f}{spread}")
        row = f"  {name:<14}" + "".join(f"{c:>30}" for c in cells)
        if len(kinds) == 2:
            ratio = statistics.median(value(r) for r in by_kind["bot"]) / statistics.median(value(r) for r in by_kind["echo"])
            pairs = [value(b) / value(e) for b, e in zip(by_kind["bot"], by_kind["echo"], strict=False)]
            spread = f" ({min(pairs):.2f}–{max(pairs):.2f})" if len(pairs) > 1 else ""
            row += f"   {ratio:6.2f}{spread}"
        print(row)


async def main(args: argparse.Namespace) -> None:
    kinds = [args.only] if args.only else list(KINDS)
    profiler = None
    if args.profile or args.profiler:
        profiler = args.profiler or ("py-spy" if find_py_spy() else "cprofile")
    print(
        f"{args.users} users (think {args.think} s), {len(SCRIPT)} updates each; {os.cpu_count()} CPUs; "
        f"bot from {ROOT}; echo bot HTTP: {args.echo_http}" + (f"; profiled with {profiler}" if profiler else "")
    )
    results: list[Result] = []
    for rnd in range(args.rounds):
        order = kinds if rnd % 2 == 0 else kinds[::-1]  # echo, bot, bot, echo, …
        for kind in order:
            result = await run_once(kind, rnd, args.users, args.think, profiler, args.echo_http)
            print(result.line(), flush=True)
            results.append(result)
    summary(results)
    if profiler:
        for kind in kinds:
            last = [r for r in results if r.kind == kind][-1]
            if last.profile is None or not last.profile.exists():
                print(f"\n{kind}: no profile was written")
            elif profiler == "cprofile":
                print_cprofile(last)
            else:
                print_py_spy(last)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("users", nargs="?", type=int, default=1000, help="simulated users at once (default 1000)")
    parser.add_argument("think", nargs="?", type=float, default=2.0, help="mean think time in seconds; 0: closed loop (default 2)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of echo + bot, in alternating order (default 1)")
    parser.add_argument("--only", choices=KINDS, help="run only the bot or only the echo bot")
    parser.add_argument("--profile", action="store_true", help="profile the bot processes and print where the time goes")
    parser.add_argument("--profiler", choices=("py-spy", "cprofile"), help="which profiler (implies --profile; default: py-spy if found)")
    parser.add_argument(
        "--echo-http",
        choices=("aiohttp", "httpx"),
        default=os.environ.get("ECHO_HTTP") or os.environ.get("BOT_HTTP") or "aiohttp",
        help="the echo bot's HTTP client (default: the bot's, BOT_HTTP or aiohttp; httpx is python-telegram-bot's own)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
