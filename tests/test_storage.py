"""The store's contract, one suite for both databases: SQLite (the default) and PostgreSQL (a real
server the tests start, tests/postgres_server.py)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sql_store import SqliteStore
from bot.storage import Conflict, Duplicate, Incoming, Outgoing, Seen, Store

NOW = 1_000_000.0
_users = itertools.count(5000)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened: Store = SqliteStore(tmp_path / "data")
    else:
        from bot.postgres_store import PostgresStore

        opened = PostgresStore(request.getfixturevalue("postgres_url"))
    yield opened
    opened.close()


@pytest.fixture
def user() -> int:
    return next(_users) * 1000 + threading.get_ident() % 1000


def reply(user: int, text: str = "hi", urgent: bool = False, step: str | None = None) -> Outgoing:
    return Outgoing(user, "sendMessage", {"chat_id": user, "text": text}, urgent, step)


def test_a_change_is_the_state_the_replies_and_the_handled_mark_at_once(store: Store, user: int) -> None:
    store.receive([Incoming(user + 1, user, '{"update_id": 1}')], NOW)
    snapshot = store.read(user)
    assert snapshot.state == {} and snapshot.version == 0
    leased = store.commit(user, snapshot, {"flow": {"step": "a"}}, [reply(user, step="a")], user + 1, NOW, 60)
    assert [letter.params["text"] for letter in leased] == ["hi"]
    assert store.read(user).state == {"flow": {"step": "a"}}
    assert all(item.update_id != user + 1 for item in store.pending(1000)), "handled"


def test_an_update_is_never_applied_twice(store: Store, user: int) -> None:
    store.receive([Incoming(user + 2, user, "{}")], NOW)
    store.commit(user, store.read(user), {"n": 1}, [reply(user)], user + 2, NOW, 60)
    with pytest.raises(Duplicate):
        store.commit(user, store.read(user), {"n": 2}, [reply(user)], user + 2, NOW, 60)
    assert store.read(user).state == {"n": 1}
    assert store.receive([Incoming(user + 2, user, "{}")], NOW) == [], "a redelivered update is not new"


def test_a_concurrent_change_is_a_conflict_not_a_lost_answer(store: Store, user: int) -> None:
    first, second = store.read(user), store.read(user)
    store.commit(user, first, {"answers": {"a": "no"}}, [], None, NOW, 60)
    with pytest.raises(Conflict):
        store.commit(user, second, {"answers": {"b": "no"}}, [reply(user)], None, NOW, 60)
    assert store.read(user).state == {"answers": {"a": "no"}}
    assert store.claim(NOW, 60, 100, user) == [], "nothing of the refused change was queued"


def test_the_inbox_keeps_updates_in_order_until_handled(store: Store, user: int) -> None:
    new = store.receive([Incoming(user + 12, user, '{"b": 1}'), Incoming(user + 11, user, '{"a": 1}')], NOW)
    assert sorted(new) == [user + 11, user + 12]
    mine = [i for i in store.pending(10_000) if i.user_id == user]
    assert [i.update_id for i in mine] == [user + 11, user + 12] and mine[0].raw == '{"a": 1}'
    store.skip(user + 11, NOW)
    assert [i.update_id for i in store.pending(10_000) if i.user_id == user] == [user + 12]
    assert [i.update_id for i in store.pending(10_000, received_before=NOW - 1) if i.user_id == user] == []


def test_a_users_letters_go_in_order_and_urgent_ones_first(store: Store, user: int) -> None:
    other = user + 1
    store.commit(user, None, None, [reply(user, "one"), reply(user, "two")], None, NOW, 0)
    store.commit(other, None, None, [reply(other, "help now", urgent=True)], None, NOW, 0)
    claimed = store.claim(NOW + 1, 60, 100)
    texts = [letter.params["text"] for letter in claimed if letter.user_id in (user, other)]
    assert texts == ["help now", "one"], "urgent first; of each user only the oldest ordinary letter"
    assert store.claim(NOW + 1, 60, 100, user) == [], "leased: nobody else takes them"
    first = next(letter for letter in claimed if letter.params["text"] == "one")
    store.sent([(first, 77)], NOW + 1)
    assert [letter.params["text"] for letter in store.claim(NOW + 1, 60, 100, user)] == ["two"]


def test_a_failed_letter_waits_for_its_time_and_keeps_its_place(store: Store, user: int) -> None:
    store.commit(user, None, None, [reply(user, "one")], None, NOW, 0)
    (letter,) = store.claim(NOW + 1, 60, 10, user)
    store.retry(letter.id, NOW + 30)
    store.commit(user, None, None, [reply(user, "two")], None, NOW + 1, 60)
    assert store.claim(NOW + 2, 60, 10, user) == [], "'two' waits behind 'one'"
    (again,) = store.claim(NOW + 31, 60, 10, user)
    assert again.params["text"] == "one" and again.attempts == 1


def test_a_letter_committed_behind_a_waiting_one_is_not_leased_to_the_sender(store: Store, user: int) -> None:
    store.commit(user, None, None, [reply(user, "one")], None, NOW, 0)
    assert store.commit(user, None, None, [reply(user, "two")], None, NOW, 60) == []
    assert [letter.params["text"] for letter in store.commit(user, None, None, [reply(user, "sos", urgent=True)], None, NOW, 60)] == ["sos"]


def test_a_delivered_question_is_remembered_as_seen(store: Store, user: int) -> None:
    (letter,) = store.commit(user, None, None, [reply(user, "Question?", step="urine")], None, NOW, 60)
    store.sent([(letter, 4321)], NOW)
    assert store.read(user).seen == Seen("urine", 4321)


def test_an_unreadable_state_is_read_as_a_fresh_start(store: Store, user: int) -> None:
    store.save(user, {"flow": {"step": "a"}}, NOW)
    with store._transaction() as execute:  # type: ignore[attr-defined]
        execute("UPDATE user_state SET state = ? WHERE user_id = ?", ("{not json", user))
    snapshot = store.read(user)
    assert snapshot.state == {} and snapshot.reset
    store.commit(user, snapshot, {}, [], None, NOW, 60)
    assert not store.read(user).reset, "written back clean"


def test_forget_removes_every_row_about_the_user(store: Store, user: int) -> None:
    store.receive([Incoming(user + 1, user, "{}")], NOW)
    (letter,) = store.commit(user, store.read(user), {"flow": {}}, [reply(user, step="a")], user + 1, NOW, 60)
    store.sent([(letter, 5)], NOW)
    store.commit(user, None, None, [reply(user, "later")], None, NOW, 60)
    store.receive([Incoming(user + 2, user, '{"text": "/forget"}')], NOW)
    store.commit(user, store.read(user), None, [reply(user, "forgotten")], user + 2, NOW, 60)
    snapshot = store.read(user)
    assert snapshot.state == {} and snapshot.seen is None
    assert [letter.params["text"] for letter in store.claim(NOW + 100, 60, 10, user)] == ["forgotten"], "earlier letters deleted"
    with store._transaction() as execute:  # type: ignore[attr-defined]
        rows = execute("SELECT update_id, raw FROM inbox WHERE user_id = ?", (user,)).fetchall()
    assert [tuple(r) for r in rows] == [(user + 2, None)], "only the /forget itself, without its text, to ignore a redelivery"


def test_the_purge_drops_what_outlived_its_promise(store: Store, user: int) -> None:
    keep = {"flow": 3600.0, "last": 600.0}
    store.save(user, {"last": {"id": "ice", "updated": NOW - 700}, "flow": {"updated": NOW}}, NOW)
    store.receive([Incoming(user + 1, user, "{}")], NOW - 7200)
    store.skip(user + 1, NOW - 7200)
    assert store.purge(NOW, keep)
    assert store.read(user).state == {"flow": {"updated": NOW}}
    assert store.receive([Incoming(user + 1, user, "{}")], NOW) == [user + 1], "handled marks older than the longest keep are gone"


def test_the_heartbeat_says_when_a_worker_was_last_alive(store: Store) -> None:
    store.beat("host:1", NOW)
    store.beat("host:2", NOW + 5)
    assert store.last_beat() is not None and store.last_beat() >= NOW + 5
    assert store.last_beat("host:1") == NOW and store.last_beat("elsewhere:1") is None


def test_two_writers_racing_on_one_user_lose_nothing(store: Store, user: int, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Each of two threads (two workers' worth of connections) adds answers, re-reading on Conflict."""
    second = SqliteStore(tmp_path / "data") if isinstance(store, SqliteStore) else type(store)(request.getfixturevalue("postgres_url"))

    def add(into: Store, key: str) -> None:
        for i in range(25):
            while True:
                snapshot = into.read(user)
                state = {**snapshot.state, f"{key}{i}": 1}
                try:
                    into.commit(user, snapshot, state, [], None, NOW, 60)
                    break
                except Conflict:
                    continue

    threads = [threading.Thread(target=add, args=(s, k)) for s, k in ((store, "a"), (second, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    second.close()
    assert len(store.read(user).state) == 50


def _open_and_close(folder: str, start: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    SqliteStore(Path(folder)).close()


def test_workers_starting_at_once_on_a_new_sqlite_file_all_open_it(tmp_path: Path) -> None:
    """Switching a new file to WAL takes a lock SQLite does not wait for: each worker retries."""
    import multiprocessing

    for trial in range(8):
        start = multiprocessing.Barrier(4)
        workers = [multiprocessing.Process(target=_open_and_close, args=(str(tmp_path / str(trial)), start)) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert [w.exitcode for w in workers] == [0, 0, 0, 0]
