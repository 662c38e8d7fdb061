"""Speed of the whole answer path (safety net, classifier, fuzzy matching, reply), run by hand:

    taskset -c 0 python benchmarks/speed.py [COUNT]

Prints start-up time (load, validate, index, load the trained classifier from its cache), then
questions per second and p50/p99 latency over a realistic mix: every labelled question, each with
a typo or two made at random so no question repeats and the spelling cache never warms; and
300-word posts built from the long real-style stories.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

from bot.brain import Brain
from bot.evaluation import load_items

ROOT = Path(__file__).resolve().parent.parent
SETS = [
    ROOT.parent / "shared" / "eval" / "dev.yaml",
    ROOT.parent / "shared" / "eval" / "real_dev.yaml",
    *sorted((ROOT / "tests" / "data").glob("*.yaml")),
]


def typo(text: str, rng: random.Random) -> str:
    """`text` with one or two letters swapped, dropped or doubled, as thumbs on a phone do."""
    chars = list(text)
    for _ in range(rng.randint(1, 2)):
        i = rng.randrange(max(1, len(chars) - 1))
        if not chars[i].isalpha():
            continue
        move = rng.choice(("swap", "drop", "double"))
        if move == "swap" and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif move == "drop":
            del chars[i]
        else:
            chars.insert(i, chars[i])
    return "".join(chars)


def questions(count: int, rng: random.Random) -> list[str]:
    pool = [str(i["q"]) for path in SETS if path.exists() for i in load_items(path)]
    return [typo(rng.choice(pool), rng) for _ in range(count)]


def posts(count: int, rng: random.Random, words: int = 300) -> list[str]:
    """Posts of about `words` words: long stories joined, with typos, ending on a question."""
    pool = [str(i["q"]) for path in SETS if path.exists() for i in load_items(path) if len(str(i["q"]).split()) > 40]
    made = []
    for _ in range(count):
        parts: list[str] = []
        while sum(len(p.split()) for p in parts) < words:
            parts.append(typo(rng.choice(pool), rng))
        made.append(" ".join(" ".join(parts).split()[:words]) + " what should i do?")
    return made


def measure(brain: Brain, batch: list[str]) -> str:
    latencies = []
    start = time.perf_counter()
    for question in batch:
        t0 = time.perf_counter()
        brain.answer(question)
        latencies.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    return (f"{len(batch)} messages: {len(batch) / total:,.0f} q/s, p50 {1000 * statistics.median(latencies):.2f} ms, "
            f"p99 {1000 * p99:.2f} ms, max {1000 * latencies[-1]:.2f} ms")


def main() -> None:
    Brain.load()  # the first start after a content change trains and caches the classifier
    t0 = time.perf_counter()
    brain = Brain.load()
    print(f"start-up (load, validate, index, classifier from cache): {(time.perf_counter() - t0) * 1000:.0f} ms, "
          f"{len(brain.content.entries)} entries")
    rng = random.Random(7)
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    print("mixed questions with typos:", measure(brain, questions(count, rng)))
    print("300-word posts:            ", measure(brain, posts(max(200, count // 10), rng)))


if __name__ == "__main__":
    main()
