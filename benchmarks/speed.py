"""Speed of the whole answer path (red-flag check + matching + reply), run by hand, on one core:

    python benchmarks/speed.py            # shipped content, then a synthetic 10,000-entry base

Prints start-up time (load, validate, index), questions per second and p50/p99 latency.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from bot.brain import Brain
from bot.content import Entry, load
from bot.evaluation import load_items

ROOT = Path(__file__).resolve().parent.parent
SETS = [ROOT.parent / "shared" / "eval" / "dev.yaml", ROOT / "tests" / "data" / "eval.yaml", ROOT / "tests" / "data" / "holdout.yaml"]


def questions(count: int) -> list[str]:
    pool = [str(i["q"]) for path in SETS if path.exists() for i in load_items(path)]
    rng = random.Random(7)
    return [rng.choice(pool) for _ in range(count)]


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
    return (f"{len(batch)} questions: {len(batch) / total:,.0f} q/s, p50 {1000 * statistics.median(latencies):.3f} ms, "
            f"p99 {1000 * p99:.3f} ms, max {1000 * latencies[-1]:.3f} ms")


def synthetic(content, size: int):
    """The shipped entries copied with shuffled words until the base holds `size` entries."""
    rng = random.Random(11)
    base = list(content.entries.values())
    vocabulary = sorted({w for e in base for ex in e.examples for w in ex.split()})
    entries = dict(content.entries)
    i = 0
    while len(entries) < size:
        source = base[i % len(base)]
        examples = tuple(" ".join(rng.sample(vocabulary, 6)) for _ in range(len(source.examples)))
        entry: Entry = replace(source, id=f"synthetic_{i}", examples=examples, follow_ups=())
        entries[entry.id] = entry
        i += 1
    return replace(content, entries=entries)


def main() -> None:
    t0 = time.perf_counter()
    brain = Brain.load()
    startup = time.perf_counter() - t0
    print(f"start-up (load, validate, index): {startup * 1000:.0f} ms, {len(brain.content.entries)} entries")
    batch = questions(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
    measure(brain, batch[:500])  # warm the spelling cache as a running bot would be
    print("shipped content:", measure(brain, batch))
    t0 = time.perf_counter()
    big = Brain(synthetic(load(), 10_000), brain.settings)
    print(f"10,000-entry base built in {time.perf_counter() - t0:.1f} s")
    print("10,000 entries: ", measure(big, batch[:2000]))


if __name__ == "__main__":
    main()
