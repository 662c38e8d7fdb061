"""Try decision thresholds on the labelled sets and print the figures of each, best first.

Run by hand when the content or the matcher changes, and copy the chosen values into
bot/brain.py:

    python benchmarks/tune_matching.py ../shared/eval/dev.yaml tests/data/eval.yaml
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

from bot.brain import Brain, Thresholds
from bot.evaluation import evaluate, load_items


def main(paths: list[str]) -> None:
    brain = Brain.load()
    items = [i for p in paths for i in load_items(Path(p))]
    rows = []
    grid = itertools.product((36, 40, 43, 46, 50), (30, 34, 38, 42), (0.5, 1, 2), (0.5, 0.55, 0.6, 0.65))
    for answer, clarify, margin, coverage in grid:
        if clarify >= answer:
            continue
        brain.thresholds = Thresholds(answer, clarify, margin, coverage)
        r = evaluate(brain, items)
        total = r.topic.value + r.out_of_scope.value + r.facts.value
        rows.append((total, answer, clarify, margin, coverage, r))
    rows.sort(key=lambda row: -row[0])
    print("answer clarify margin coverage | topic  facts  out-of-scope")
    for _, answer, clarify, margin, coverage, r in rows[:15]:
        print(f"{answer:6} {clarify:7} {margin:6} {coverage:8} | {r.topic.value:.3f} {r.facts.value:.3f} {r.out_of_scope.value:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
