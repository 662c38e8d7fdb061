"""Retention, enforced: what /privacy promises is what the purge deletes, on time, whether or not
the user comes back (the probe found rows of users idle for 7 days still there)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.guard import FLOOD_SECONDS
from bot.replies import plain
from bot.retention import KEEP, RETENTION_SECONDS
from bot.sql_store import SqliteStore
from bot.storage import MemoryStore, Store
from tests.conftest import RunningBot, until
from tests.fake_telegram import FakeTelegram

NOW = 1_800_000_000.0
MINUTE = 60.0
#: How /privacy names each part of the stored state.
NAMED = {"flow": "where you are in /triage", "done": "the plan /triage gave you", "last": "which answer I gave you last"}


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path: Path) -> Store:
    """The same contract for every backend."""
    return MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "data")


def test_privacy_states_each_part_kept_and_exactly_as_long_as_the_purge_keeps_it(dialogue, user: int) -> None:
    text = plain(dialogue.handle_text(user, "/privacy")[0].text)
    for part, seconds in KEEP.items():
        line = next(line for line in text.splitlines() if NAMED[part] in line)
        assert f"{seconds // 60:.0f} minutes" in line, (part, line)
    assert f"{FLOOD_SECONDS:.0f} seconds" in text, "the flood guard's memory is stated too"
    assert "whether or not you come back" in text and "/forget" in text


def test_a_row_idle_past_the_retention_is_deleted_whatever_it_holds(store: Store) -> None:
    store.save(1, {"flow": {"step": "urine", "updated": NOW}}, NOW)
    store.save(2, {"other": 1}, NOW - RETENTION_SECONDS - 1)
    store.save(3, {"flow": {"step": "urine", "updated": NOW - 7 * 24 * 3600}}, NOW - 7 * 24 * 3600)
    assert store.purge(NOW, KEEP)
    assert store.load(2) == {} and store.load(3) == {}
    assert store.load(1) == {"flow": {"step": "urine", "updated": NOW}}, "a recent one is kept"


def test_a_finished_plan_is_deleted_on_time_even_while_the_user_keeps_asking(store: Store) -> None:
    # The plan was given 31 minutes ago; questions since kept the row fresh.
    state = {"done": {"outcome": "self_care", "updated": NOW - 31 * MINUTE}, "last": {"id": "ice", "updated": NOW - MINUTE}}
    store.save(4, state, NOW - MINUTE)
    store.purge(NOW, KEEP)
    assert store.load(4) == {"last": {"id": "ice", "updated": NOW - MINUTE}}


def test_the_last_answer_goes_after_ten_minutes_and_an_emptied_row_with_it(store: Store) -> None:
    store.save(5, {"last": {"id": "ice", "updated": NOW - 11 * MINUTE}}, NOW - 11 * MINUTE)
    store.save(6, {"last": {"id": "ice", "updated": NOW - 9 * MINUTE}}, NOW - 9 * MINUTE)
    store.purge(NOW, KEEP)
    assert store.load(5) == {} and store.load(6)["last"]["id"] == "ice"
    assert store.purge(NOW, KEEP) == 0, "nothing left to do"


def test_purged_answers_are_nowhere_in_the_database_files(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "data")
    for minute in range(3):  # three saves: three copies in the log until it is emptied
        store.save(7, {"flow": {"answers": {"where": "MARKER-left-hip"}, "updated": NOW - 40 * MINUTE + minute}}, NOW - 40 * MINUTE + minute)
    assert b"MARKER-left-hip" in _disk(store)
    store.purge(NOW, KEEP)
    assert b"MARKER-left-hip" not in _disk(store)


async def test_the_running_bot_purges_users_who_never_come_back(brain, fake: FakeTelegram, tmp_path: Path) -> None:
    bot = RunningBot(brain, fake, tmp_path / "data")
    week_ago = time.time() - 7 * 24 * 3600
    bot.store.save(7401, {"flow": {"step": "urine", "answers": {"where": "MARKER-idle-week"}, "updated": week_ago}}, week_ago)
    bot.store.save(7402, {"last": {"id": "ice", "updated": time.time()}}, time.time())
    async with bot:
        await until(lambda: bot.store.load(7401) == {})
        assert b"MARKER-idle-week" not in _disk(bot.store)
        assert bot.store.load(7402), "an active user's state stays"


def _disk(store: SqliteStore) -> bytes:
    """Every byte of the database and its write-ahead log."""
    wal = store.path.with_name(store.path.name + "-wal")
    return store.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
