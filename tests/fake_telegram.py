"""A local fake of Telegram's Bot API for end-to-end tests: 127.0.0.1 only, never the internet.

It answers the methods python-telegram-bot calls with the real JSON shapes, parses the
form-encoded bodies the library sends, serves long-polling `getUpdates` honouring `offset`,
and records every request so tests read as "user says X, bot sends Y".
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
BOT = {
    "id": 4242,
    "is_bot": True,
    "first_name": "Spasm Helper",
    "username": "spasm_helper_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": True,
}


class FakeTelegram:
    """The server's state: queued updates, sent messages and every call made."""

    def __init__(self, port: int = 0) -> None:
        #: Faults to inject, per API method, each used once: "429", "500", "502", "slow",
        #: "drop" (connection closed, no answer), "badjson", "401" (a rejected token) or "409"
        #: (Conflict: another instance polling with the same token).
        self.faults: dict[str, list[str]] = {}
        self.slow_seconds = 2.0
        self.injected: list[tuple[str, str]] = []
        #: When each request arrived: (method, monotonic time), faulty ones included.
        self.arrivals: list[tuple[str, float]] = []
        #: Called with (chat_id, time) for every message the bot sends (benchmarks use it).
        self.on_send: Any = None
        #: The newest message the bot sent to each chat.
        self.last: dict[int, dict[str, Any]] = {}
        self.updates: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        #: The highest offset a getUpdates confirmed: updates below it were kept by the bot.
        self.confirmed = 0
        #: Methods that answer 502 Bad Gateway until the given monotonic time (an outage).
        self.down: dict[str, float] = {}
        #: When set, every getUpdates answer also carries an update delivered before (Telegram
        #: redelivering) and comes shuffled (out of order).
        self.replay: random.Random | None = None
        self._delivered: list[dict[str, Any]] = []
        #: When set, updates are POSTed to these webhook addresses (one picked at random, as a
        #: load balancer would) instead of waiting for getUpdates; retried until one answers 200.
        self.webhooks: list[str] = []
        self.webhook_secret = ""
        #: How many updates each webhook address accepted.
        self.accepted: dict[str, int] = {}
        self._next_update = 1
        self._next_message = 1000
        self._cond = threading.Condition()
        handler = type("Handler", (_Handler,), {"fake": self})
        server_class = type("Server", (_QuietServer,), {"request_queue_size": 256})
        self.server = server_class(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/bot"

    def start(self) -> FakeTelegram:
        self.thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._cond.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # -- what users do ----------------------------------------------------------------------

    def _push(self, update: dict[str, Any]) -> int:
        with self._cond:
            update["update_id"] = self._next_update
            self._next_update += 1
            if self.webhooks:
                threading.Thread(target=self._post_webhook, args=(update,), daemon=True).start()
            else:
                self.updates.append(update)
            self._cond.notify_all()
            return update["update_id"]

    def _post_webhook(self, update: dict[str, Any]) -> None:
        """Deliver one update as Telegram does to a webhook: again until it is accepted."""
        body = json.dumps(update).encode()
        rng = random.Random(update["update_id"])
        while True:
            url = rng.choice(self.webhooks)
            request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", SECRET_HEADER: self.webhook_secret})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    if response.status == 200:
                        with self._cond:
                            self.accepted[url] = self.accepted.get(url, 0) + 1
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)

    def message_id(self) -> int:
        with self._cond:
            self._next_message += 1
            return self._next_message

    def send_text(self, user_id: int, text: str, chat_id: int | None = None, chat_type: str = "private",
                  reply_to_bot: bool = False, edited: bool = False, thread: int | None = None) -> int:
        """A user types `text`; a leading /command carries its bot_command entity, as Telegram's do.
        `thread`: the forum topic of a supergroup it is written in."""
        chat: dict[str, Any] = {"id": chat_id or user_id, "type": chat_type}
        if chat_type != "private":
            chat["title"] = "Back pain group"
        message: dict[str, Any] = {
            "message_id": self.message_id(),
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": user_id, "is_bot": False, "first_name": "Pat"},
            "text": text,
        }
        entities = []
        if text.startswith("/"):
            entities.append({"type": "bot_command", "offset": 0, "length": len(text.split()[0])})
        at = text.find("@" + BOT["username"])
        if at >= 0 and not text.startswith("/"):
            entities.append({"type": "mention", "offset": at, "length": len(BOT["username"]) + 1})
        if entities:
            message["entities"] = entities
        if reply_to_bot:
            message["reply_to_message"] = {"message_id": 1, "date": int(time.time()), "chat": chat, "from": BOT, "text": "earlier"}
        if edited:
            message["edit_date"] = int(time.time())
        if thread:
            chat["is_forum"] = True
            message.update(message_thread_id=thread, is_topic_message=True)
        return self._push({"edited_message" if edited else "message": message})

    def send_other(self, user_id: int, kind: str) -> int:
        """A sticker, photo, voice note or location."""
        payloads = {
            "sticker": {"sticker": {"file_id": "s1", "file_unique_id": "u1", "type": "regular", "width": 512, "height": 512, "is_animated": False, "is_video": False}},
            "photo": {"photo": [{"file_id": "p1", "file_unique_id": "u2", "width": 90, "height": 90}]},
            "voice": {"voice": {"file_id": "v1", "file_unique_id": "u3", "duration": 2}},
            "location": {"location": {"latitude": 51.5, "longitude": -0.1}},
        }
        message = {
            "message_id": self.message_id(),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Pat"},
            **payloads[kind],
        }
        return self._push({"message": message})

    def press(self, user_id: int, data: str, message_id: int | None = None) -> int:
        """A user presses an inline button with `data` under the bot message `message_id`."""
        message = {
            "message_id": message_id or 1,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private"},
            "from": BOT,
            "text": "question",
        }
        query = {"id": f"cb{self._next_update}", "from": {"id": user_id, "is_bot": False, "first_name": "Pat"},
                 "chat_instance": "ci", "data": data, "message": message}
        return self._push({"callback_query": query})

    def inline(self, user_id: int, text: str) -> int:
        query = {"id": f"iq{self._next_update}", "from": {"id": user_id, "is_bot": False, "first_name": "Pat"}, "query": text, "offset": ""}
        return self._push({"inline_query": query})

    # -- what the bot did ---------------------------------------------------------------------

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """What the bot showed (optionally in one chat), oldest first: every message it sent and
        every message it edited into a new one (the next /triage question replaces the last)."""
        with self._cond:
            out = [p for m, p in self.calls if m in ("sendMessage", "editMessageText")]
        return [p for p in out if chat_id is None or int(p["chat_id"]) == chat_id]

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        with self._cond:
            return [p for m, p in self.calls if m == method]

    # -- the API ------------------------------------------------------------------------------

    def inject(self, method: str, *faults: str) -> None:
        """Queue faults for the next calls of `method`."""
        with self._cond:
            self.faults.setdefault(method, []).extend(faults)

    def next_fault(self, method: str) -> str | None:
        with self._cond:
            queue = self.faults.get(method)
            if not queue:
                return None
            fault = queue.pop(0)
            self.injected.append((method, fault))
            return fault

    def outage(self, method: str) -> str | None:
        """"502" while `method` is down (recorded with the injected faults)."""
        if time.monotonic() >= self.down.get(method, 0.0):
            return None
        with self._cond:
            self.injected.append((method, "502"))
        return "502"

    def api(self, method: str, params: dict[str, Any]) -> Any:
        with self._cond:
            self.calls.append((method, params))
        if method == "getMe":
            return BOT
        if method == "getUpdates":
            return self._get_updates(params)
        if method in ("sendMessage", "editMessageText"):
            chat_id = int(params["chat_id"])
            if method in ("sendMessage", "editMessageText"):
                self.last[chat_id] = params
                if self.on_send:
                    self.on_send(chat_id, time.perf_counter())
            message = {
                "message_id": self.message_id(),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
                "from": BOT,
                "text": params.get("text", ""),
            }
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            return message
        return True

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, 2.0)
        with self._cond:
            self.confirmed = max(self.confirmed, offset)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            batch = list(self.updates[: int(params.get("limit") or 100)])
            if self.replay and self._delivered:
                batch.append(self.replay.choice(self._delivered))
                self.replay.shuffle(batch)
            self._delivered.extend(batch)
            return batch


class _QuietServer(ThreadingHTTPServer):
    """A bot process killed mid-request (the crash tests do it on purpose) resets its connection:
    that is expected, not a traceback to print."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTelegram
    protocol_version = "HTTP/1.1"  # keep-alive, as Telegram's servers do

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        method = self.path.rstrip("/").rsplit("/", 1)[-1]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        params = _parse(body, self.headers.get("Content-Type") or "")
        self.fake.arrivals.append((method, time.monotonic()))
        fault = self.fake.next_fault(method) or self.fake.outage(method)
        if fault in ("slow", "drop"):
            if fault == "slow":  # lost in transit after the client gave up waiting
                time.sleep(self.fake.slow_seconds)
            self.close_connection = True
            self.connection.close()
            return
        status, payload = 200, b""
        if fault == "429":
            status, payload = 429, json.dumps({"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}).encode()
        elif fault in ("500", "502"):
            status, payload = int(fault), json.dumps({"ok": False, "error_code": int(fault), "description": "Internal Server Error"}).encode()
        elif fault in ERRORS:
            status, payload = int(fault), json.dumps({"ok": False, "error_code": int(fault), "description": ERRORS[fault]}).encode()
        elif fault == "badjson":
            payload = b"{this is not json"
        else:
            payload = json.dumps({"ok": True, "result": self.fake.api(method, params)}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        try:
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a long poll cancelled at shutdown)


#: Telegram's own descriptions of the errors a token or a second poller causes.
ERRORS = {
    "401": "Unauthorized",
    "409": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
}

#: Parameters that are objects: a form body carries them JSON-encoded, a JSON body as they are.
OBJECT_PARAMS = {"reply_markup", "results", "allowed_updates", "commands"}


def _parse(body: bytes, content_type: str) -> dict[str, Any]:
    """A call's parameters in one shape, whichever way the client sent them (as Telegram does)."""
    if not body:
        return {}
    if "json" in content_type:
        return json.loads(body)
    form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    return {k: json.loads(v) if k in OBJECT_PARAMS else v for k, v in form.items()}
