"""Try blend weights and decision thresholds on labelled sets; print the best, best first.

Run by hand when the content or the matcher changes, tune on some sets and check on others, then
copy the chosen values into bot/ranking.py and bot/brain.py:

    python benchmarks/tune_matching.py --tune ../shared/eval/dev.yaml tests/data/eval.yaml tests/data/real_style.yaml \\
        --check tests/data/holdout.yaml tests/data/real_style_holdout.yaml

The score of a setting is the sum, over the tuning sets, of topic accuracy, facts found and
off-topic rejection (safety does not depend on these values: the red-flag net runs first).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from bot.brain import Brain, Reading, Thresholds
from bot.evaluation import Report, _score, load_items
from bot.ranking import Blend


def figures(brain: Brain, sets: list[list[dict]], readings: list[list[Reading]], thresholds: Thresholds) -> list[Report]:
    """Score every set with `thresholds`, reusing the readings made for the current blend."""
    brain.thresholds = thresholds
    reports = []
    for items, read in zip(sets, readings, strict=True):
        report = Report()
        for item, reading in zip(items, read, strict=True):
            _score(item, reading.settled or brain.decide(reading.ranking), report)
        reports.append(report)
    return reports


def total(reports: list[Report]) -> float:
    return sum(r.topic.value + r.facts.value + r.out_of_scope.value for r in reports)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tune", nargs="+", required=True, help="labelled sets to choose the values on")
    parser.add_argument("--check", nargs="*", default=[], help="labelled sets only reported, never chosen on")
    args = parser.parse_args()
    brain = Brain.load()
    tune = [load_items(Path(p)) for p in args.tune]
    check = [load_items(Path(p)) for p in args.check]
    rows = []
    for classifier, whole, question, topic in itertools.product((0.5, 0.6, 0.7), (0.3, 0.5), (2.0, 3.0), (0.5, 1.0, 2.0)):
        blend = Blend(classifier, whole, question, topic)
        brain.thresholds = Thresholds(blend=blend)
        tune_read = [[brain.read(str(i["q"])) for i in items] for items in tune]
        check_read = [[brain.read(str(i["q"])) for i in items] for items in check]
        grid = itertools.product((15, 20, 25, 30, 35), (10, 15, 20, 25, 30), (0, 5, 10), (0.4, 0.5, 0.65))
        for answer, clarify, nearest, coverage in grid:
            if clarify > answer or nearest > clarify:
                continue
            thresholds = Thresholds(answer, clarify, 1.0, coverage, nearest, blend=blend)
            rows.append((total(figures(brain, tune, tune_read, thresholds)), thresholds, figures(brain, check, check_read, thresholds)))
    rows.sort(key=lambda row: -row[0])
    print("score | classifier whole question topic | answer clarify nearest coverage | check sets: topic accuracy")
    for score, t, checked in rows[:20]:
        b = t.blend
        values = f"{b.classifier:.1f} {b.whole:.1f} {b.question:.1f} {b.topic:.1f} | "
        values += f"{t.answer:.0f} {t.clarify:.0f} {t.nearest:.0f} {t.coverage:.2f}"
        print(f"{score:.3f} | {values} | " + " ".join(f"{r.topic.value:.3f}" for r in checked))


if __name__ == "__main__":
    main()
