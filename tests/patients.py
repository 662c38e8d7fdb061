"""Simulated people going through /triage by buttons, for the scenario tests of delivery, crashes
and workers: each presses an answer once when a new question reaches them, and never again
(a person with a red flag may not press twice)."""

from __future__ import annotations

from collections.abc import Iterable

from tests.fake_telegram import FakeTelegram

PLAN = "What you told me"


def no_or_first(message: dict) -> str | None:
    """What someone without warning signs presses: "No", else the first answer."""
    markup = message.get("reply_markup") or {"inline_keyboard": []}
    controls = (":back", ":restart", ":cancel")
    choices = [b["callback_data"] for row in markup["inline_keyboard"] for b in row
               if b.get("callback_data", "").startswith("tr:") and not b["callback_data"].endswith(controls)]
    return next((c for c in choices if c.endswith(":no")), choices[0] if choices else None)


class Patients:
    """`users` who each start /triage and answer every new question once."""

    def __init__(self, fake: FakeTelegram, users: Iterable[int]) -> None:
        self.fake = fake
        self.users = list(users)
        self.seen = dict.fromkeys(self.users, 0)

    def start(self) -> None:
        for user in self.users:
            self.fake.send_text(user, "/triage")

    def step(self) -> bool:
        """Press an answer to each question that arrived since the last step; True when everyone
        has their plan."""
        for user in self.users:
            shown = self.fake.sent(user)
            if len(shown) > self.seen[user]:
                self.seen[user] = len(shown)
                press = no_or_first(shown[-1])
                if press:
                    self.fake.press(user, press)
        return self.done()

    def done(self) -> bool:
        return all(self.fake.sent(u) and PLAN in self.fake.sent(u)[-1]["text"] for u in self.users)

    def assert_whole(self) -> None:
        """One plan each, no message shown twice, every answer in it: nothing lost or doubled."""
        for user in self.users:
            shown = [m["text"] for m in self.fake.sent(user)]
            assert len(shown) == len(set(shown)), f"user {user} was shown a message twice"
            assert sum(PLAN in text for text in shown) == 1, f"user {user}: {sum(PLAN in t for t in shown)} plans"
            assert "No to all 14 warning signs" in shown[-1], "no question skipped, no answer lost"
