"""`python -m bot eval SET.yaml --report DIR`: the evaluation as a page to look at, the way
`rasa test` draws its results.

DIR/index.html shows, per labelled set: the verdict and the safety figures against their pass
marks, each topic's precision, recall and F1 as bars, the topic confusion matrix (an SVG written
here as plain text, so the bot needs no plotting library), and every miss with the message, what
was wanted and what the bot gave. The page is for the people who edit the content; its wording
is for them, not for the bot's users.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.content import TOPICS
from bot.evaluation import MAX_FALSE_ALARMS, PASS_MARKS, Report
from bot.replies import plain

#: Side of one cell of the confusion matrix, and the width of a character of its labels, in pixels.
CELL, CHAR = 34, 7.2
#: Cell colours at full share: the wanted topic given (green), another one (red).
RIGHT, WRONG = (26, 150, 65), (215, 48, 39)
#: The faintest colour of a cell that is not empty: a single miss must catch the eye.
FAINTEST = 0.3
#: How much of a miss's reply the page shows.
EXCERPT = 220


@dataclass(frozen=True)
class TopicScore:
    """How well one topic is placed: of the messages that wanted it (recall) and of those the
    bot placed on it (precision)."""

    topic: str
    wanted: int
    given: int
    correct: int

    @property
    def precision(self) -> float:
        return self.correct / self.given if self.given else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.wanted if self.wanted else 0.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def _ordered(labels: set[str]) -> list[str]:
    """Topics in the guide's order, then any others, then the kinds of reply that name no topic."""
    known = [t for t in TOPICS if t in labels]
    return known + sorted(x for x in labels - set(known) if not x.startswith("(")) + sorted(x for x in labels if x.startswith("("))


def topic_scores(report: Report) -> list[TopicScore]:
    """Precision, recall and F1 of every wanted topic."""
    wanted = Counter(w for w, _ in report.placements)
    given = Counter(g for _, g in report.placements)
    correct = Counter(w for w, g in report.placements if w == g)
    return [TopicScore(t, wanted[t], given[t], correct[t]) for t in _ordered(set(wanted))]


def _shade(strength: float, colour: tuple[int, int, int]) -> str:
    """`colour` at `strength` (0 to 1) over white."""
    r, g, b = (round(255 - strength * (255 - c)) for c in colour)
    return f"#{r:02x}{g:02x}{b:02x}"


def confusion_svg(report: Report, title: str) -> str:
    """The topic confusion matrix as SVG text: a row per wanted topic, a column per topic or kind
    of reply given; a cell's colour is its share of the row, green on the diagonal, red off it."""
    counts = Counter(report.placements)
    totals = Counter(w for w, _ in report.placements)
    rows = _ordered(set(totals))
    cols = _ordered(set(rows) | {g for _, g in report.placements})
    left = round(CHAR * max((len(r) for r in rows), default=4)) + 16
    top = round(CHAR * max((len(c) for c in cols), default=4)) + 48
    width, height = left + CELL * len(cols) + 64, top + CELL * len(rows) + 28
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f"<title>{html.escape(title)}</title>",
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{left}" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>',
        f'<text x="{left + CELL * len(cols) + 8}" y="{top - 8}" fill="#555">total</text>',
    ]
    for j, col in enumerate(cols):
        out.append(f'<text transform="translate({left + CELL * j + CELL // 2 + 4},{top - 6}) rotate(-90)">{html.escape(col)}</text>')
    for i, row in enumerate(rows):
        y = top + CELL * i
        out.append(f'<text x="{left - 8}" y="{y + CELL // 2 + 4}" text-anchor="end">{html.escape(row)}</text>')
        for j, col in enumerate(cols):
            x, n = left + CELL * j, counts[(row, col)]
            strength = FAINTEST + (1 - FAINTEST) * n / totals[row]
            fill = _shade(strength, RIGHT if row == col else WRONG) if n else "#f4f4f4"
            tip = html.escape(f"wanted {row}, bot gave {col}: {n} of {totals[row]}")
            out.append(f'<rect x="{x}" y="{y}" width="{CELL - 2}" height="{CELL - 2}" fill="{fill}"><title>{tip}</title></rect>')
            if n:
                ink = "white" if strength > 0.6 else "#222"
                out.append(f'<text x="{x + CELL // 2 - 1}" y="{y + CELL // 2 + 4}" text-anchor="middle" fill="{ink}">{n}</text>')
        out.append(f'<text x="{left + CELL * len(cols) + 8}" y="{y + CELL // 2 + 4}" fill="#555">{totals[row]}</text>')
    out.append(f'<text x="{left}" y="{height - 8}" fill="#555">rows: the topic a message wanted; columns: what the bot gave</text>')
    out.append("</svg>")
    return "\n".join(out)


def _bar(value: float, good: bool = True) -> str:
    colour = "#1a9641" if good else "#d73027"
    return f'<span class="bar"><span style="width:{100 * value:.0f}%;background:{colour}"></span></span> {100 * value:.1f}%'


def _figures(report: Report) -> str:
    rows = []
    for label, ratio in report.figures().items():
        ok = ratio.value >= PASS_MARKS[label]
        rows.append(
            f"<tr><td>{label}</td><td>{_bar(ratio.value, ok)}</td><td>{ratio.hit}/{ratio.total}</td>"
            f"<td>≥ {100 * PASS_MARKS[label]:.0f}%</td><td>{'✅' if ok else '❌'}</td></tr>"
        )
    ok = report.false_alarms <= MAX_FALSE_ALARMS
    mark = "✅" if ok else "❌"
    rows.append(f"<tr><td>false alarms</td><td>{report.false_alarms}</td><td></td><td>≤ {MAX_FALSE_ALARMS}</td><td>{mark}</td></tr>")
    head = "<tr><th>figure</th><th>value</th><th>count</th><th>pass mark</th><th></th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _topics(report: Report) -> str:
    """Each topic's figures; a bar is red below the pass mark of the topic accuracy."""
    mark = PASS_MARKS["topic accuracy"]
    head = "<tr><th>topic</th><th>wanted</th><th>placed there</th><th>right</th><th>precision</th><th>recall</th><th>F1</th></tr>"
    rows = [
        f"<tr><td>{html.escape(s.topic)}</td><td>{s.wanted}</td><td>{s.given}</td><td>{s.correct}</td>"
        + "".join(f"<td>{_bar(value, value >= mark)}</td>" for value in (s.precision, s.recall, s.f1))
        + "</tr>"
        for s in topic_scores(report)
    ]
    return f"<table>{head}{''.join(rows)}</table>"


def _misses(report: Report) -> str:
    head = "<tr><th>#</th><th>message</th><th>what went wrong</th><th>wanted</th><th>bot gave</th><th>the bot's reply</th></tr>"
    rows = []
    for n, miss in enumerate(report.misses, 1):
        text = plain(miss.reply.text)
        excerpt = text if len(text) <= EXCERPT else text[:EXCERPT].rsplit(" ", 1)[0] + " …"
        rows.append(
            f'<tr class="miss"><td>{n}</td><td>{html.escape(miss.question)}</td><td>{html.escape("; ".join(miss.problems))}</td>'
            f"<td>{html.escape(miss.wanted)}</td><td>{html.escape(miss.got)}</td><td class=reply>{html.escape(excerpt)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>" if rows else "<p>None.</p>"


STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 2em; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.bar { display: inline-block; width: 90px; height: 10px; background: #eee; }
.bar span { display: block; height: 100%; }
.pass { color: #1a9641; } .fail { color: #d73027; }
td.reply { color: #555; font-size: 0.9em; max-width: 420px; }
"""


def _section(name: str, report: Report, svg: str) -> str:
    verdict = '<span class="pass">PASS</span>' if report.passed else '<span class="fail">FAIL</span>'
    return (
        f"<h1>{html.escape(name)}: {verdict}</h1><p>{report.asked} messages asked.</p>"
        f"<h2>Safety and quality</h2>{_figures(report)}"
        f"<h2>Topics</h2><p>Recall: of the messages that wanted a topic, how many got it. "
        f"Precision: of the messages the bot placed on a topic, how many wanted it. F1 weighs both.</p>{_topics(report)}"
        f'<h2>Where the messages went</h2><img src="{html.escape(svg)}" alt="topic confusion matrix of {html.escape(name)}">'
        f"<h2>Misses: {len(report.misses)}</h2>{_misses(report)}"
    )


def write_report(runs: list[tuple[str, Report]], folder: Path) -> Path:
    """Write index.html and a confusion matrix SVG per set into `folder`; return the page."""
    folder.mkdir(parents=True, exist_ok=True)
    sections, used = [], set()
    for i, (name, report) in enumerate(runs, 1):
        svg = f"confusion-{Path(name).stem}.svg"
        svg = svg if svg not in used else f"confusion-{Path(name).stem}-{i}.svg"
        used.add(svg)
        (folder / svg).write_text(confusion_svg(report, f"Topics of {Path(name).name}"), encoding="utf-8")
        sections.append(_section(name, report, svg))
    when = datetime.now().strftime("%Y-%m-%d %H:%M")
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Evaluation report</title><style>{STYLE}</style></head>'
        f"<body>{''.join(sections)}<p><small>Written by python -m bot eval on {when}.</small></p></body></html>\n"
    )
    index = folder / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
