"""What the bot keeps about a user, and for how long: one place, read by the purge that enforces
it and held equal to what /privacy promises (tests/test_retention.py)."""

from __future__ import annotations

from bot.dialogue import CONTEXT_SECONDS
from bot.triage import IDLE_SECONDS

#: Each part of a user's stored state and how long after its own last change it is kept:
#: the /triage progress, the finished plan (kept so a repeated tap or Back still works), and
#: the id of the last answer (for follow-up questions).
KEEP = {"flow": IDLE_SECONDS, "done": IDLE_SECONDS, "last": CONTEXT_SECONDS}
#: A user's whole row is deleted this long after its last change, whatever it holds.
RETENTION_SECONDS = max(KEEP.values())
#: How often the purge runs (seconds): nothing outlives its promise by more than this.
PURGE_EVERY = 60
