"""Load: 1,000 simulated users talking at once to the real bot process through a local fake Bot
API server — questions, red flags and whole /triage flows. Run by hand:

    python benchmarks/load.py [users] [think seconds]

The fake server and the users live in this process on one asyncio loop (aiohttp's server), so the
stand-in for Telegram adds as little of its own queueing as it can on the machine's second core;
the bot runs as its own process (`python -m bot run`). Each user sends one update, waits for the
reply, thinks 0.5–1.5 × `think` seconds (default 2), then sends the next; 1,000 users thinking 2 s
offer about 500 updates/s. With think 0 it is a closed loop that finds the ceiling. Reports
updates per second, p50/p99/max time from update to reply, and the bot's peak resident memory.
The bot runs with BOT_RATE_LIMIT=off: Telegram itself would pace a real bot to about 30
messages/s, which is what this measures beyond.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
BOT = {"id": 4242, "is_bot": True, "first_name": "Spasm Helper", "username": "spasm_helper_bot",
       "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": True}
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


class FakeBotApi:
    """Just enough of the Bot API for the load run, on one asyncio loop."""

    def __init__(self) -> None:
        self.updates: list[dict] = []
        self.next_update = 1
        self.next_message = 1000
        self.arrived = asyncio.Event()
        self.last: dict[int, dict] = {}
        self.waiting: dict[int, asyncio.Future] = {}

    def push(self, update: dict) -> None:
        update["update_id"] = self.next_update
        self.next_update += 1
        self.updates.append(update)
        self.arrived.set()

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.read()
        params = {k: v[0] for k, v in parse_qs(body.decode()).items()} if body else {}
        result: object = True
        if method == "getMe":
            result = BOT
        elif method == "getUpdates":
            offset = int(params.get("offset") or 0)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            if not self.updates:
                self.arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.arrived.wait(), float(params.get("timeout") or 0) or 0.01)
            result = self.updates[: int(params.get("limit") or 100)]
        elif method in ("sendMessage", "editMessageText"):
            chat = int(params["chat_id"])
            self.next_message += 1
            result = {"message_id": self.next_message, "date": int(time.time()), "chat": {"id": chat, "type": "private"},
                      "from": BOT, "text": params.get("text", "")}
            if params.get("reply_markup"):
                result["reply_markup"] = json.loads(params["reply_markup"])
            self.last[chat] = result
            future = self.waiting.pop(chat, None)
            if future and not future.done():
                future.set_result(time.perf_counter())
        return web.json_response({"ok": True, "result": result})


def message(user: int, text: str) -> dict:
    data = {"message_id": 1, "date": int(time.time()), "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "Pat"}, "text": text}
    if text.startswith("/"):
        data["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"message": data}


def press(api: FakeBotApi, user: int, value: str) -> dict:
    rows = api.last[user]["reply_markup"]["inline_keyboard"]
    data = next(b["callback_data"] for row in rows for b in row if b["callback_data"].endswith(":" + value))
    return {"callback_query": {"id": str(random.random()), "from": {"id": user, "is_bot": False, "first_name": "Pat"},
                               "chat_instance": "ci", "data": data, "message": api.last[user]}}


async def user_session(api: FakeBotApi, user: int, think: float, rng: random.Random, latencies: list[float]) -> None:
    await asyncio.sleep(rng.uniform(0, think))
    for kind, value in SCRIPT:
        future = asyncio.get_running_loop().create_future()
        api.waiting[user] = future
        api.push(message(user, value) if kind == "text" else press(api, user, value))
        sent = time.perf_counter()
        latencies.append(await asyncio.wait_for(future, 60) - sent)
        await asyncio.sleep(rng.uniform(0.5, 1.5) * think)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def start_bot(token: str) -> tuple[FakeBotApi, web.AppRunner, subprocess.Popen]:
    """The stand-in for Telegram on a free local port, and the real bot process talking to it."""
    api = FakeBotApi()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", api.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # the port the OS picked
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": token, "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{port}/bot",
           "BOT_DATA_DIR": tempfile.mkdtemp(), "BOT_RATE_LIMIT": "off"}
    bot = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    return api, runner, bot


async def main(users: int, think: float) -> None:
    api, runner, bot = await start_bot("123456:LOAD")
    warm: list[float] = []
    await user_session_once(api, warm)
    rng = random.Random(5)
    latencies: list[float] = []
    start = time.perf_counter()
    await asyncio.gather(*(user_session(api, 100_000 + i, think, rng, latencies) for i in range(users)))
    elapsed = time.perf_counter() - start
    rss, cpu = peak_rss_mb(bot.pid), cpu_seconds(bot.pid)
    bot.terminate()
    bot.wait()
    await runner.cleanup()
    latencies.sort()
    total = len(latencies)
    p50, p99 = latencies[total // 2], latencies[int(total * 0.99)]
    print(f"{users} users (think {think} s), {total} updates in {elapsed:.1f} s: {total / elapsed:,.0f} updates/s")
    print(f"update → reply: p50 {1000 * p50:.0f} ms, p99 {1000 * p99:.0f} ms, max {1000 * latencies[-1]:.0f} ms")
    print(f"bot peak resident memory: {rss:.0f} MB; bot CPU {cpu:.1f} s, this process {time.process_time():.1f} s")


async def user_session_once(api: FakeBotApi, latencies: list[float]) -> None:
    """Wait until the bot answers /start, so start-up is not measured."""
    future = asyncio.get_running_loop().create_future()
    api.waiting[1] = future
    api.push(message(1, "/start"))
    latencies.append(await asyncio.wait_for(future, 60))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, float(sys.argv[2]) if len(sys.argv) > 2 else 2.0))
