"""Command line: `python -m bot [chat|ask|eval|check|run]`.

With no sub-command the bot runs on Telegram when TELEGRAM_BOT_TOKEN is set, else it starts the
terminal chat and says in one line how to connect it to Telegram.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from bot.content import LANGUAGES, Content, ContentError, ContentProblems, load, located
from bot.errors import StartupError
from bot.languages import Languages, load_languages
from bot.redact import protect, redact
from bot.replies import plain
from bot.settings import Settings


def _brain():
    from bot.brain import Brain

    return Brain(load(), Settings.from_env())


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer one question, or every line of standard input (CONTRACT.md §2)."""
    brain = _brain()
    if args.question:
        question = " ".join(args.question)
        reply = brain.answer(question)
        print(json.dumps(reply.to_json(question), ensure_ascii=False) if args.json else plain(reply.text))
        return 0
    for line in sys.stdin:
        question = line.rstrip("\r\n")
        if not question.strip():
            continue
        reply = brain.answer(question)
        if args.json:
            print(json.dumps(reply.to_json(question), ensure_ascii=False), flush=True)
        else:
            print(plain(reply.text), end="\n\n", flush=True)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Score the engine on labelled sets; exit 1 when one misses its pass marks. With `--report`,
    also draw the runs as a page (bot/report.py)."""
    from bot.evaluation import evaluate, format_report, load_items

    brain = _brain()
    runs = []
    for path in args.files:
        report = evaluate(brain, load_items(Path(path)))
        print(format_report(report, path))
        runs.append((path, report))
    if args.report:
        from bot.report import write_report

        print(f"report: {write_report(runs, args.report)}", file=sys.stderr)
    return 0 if all(report.passed for _, report in runs) else 1


def _checked() -> tuple[Content, Languages]:
    """The content, and `intents/languages.yaml` (which the engine reads) checked against it."""
    content = load()
    try:
        return content, load_languages(content.root / LANGUAGES, content)
    except ContentError as exc:
        raise located(content.root, content.root / LANGUAGES, exc) from exc


def cmd_check(_: argparse.Namespace) -> int:
    """Validate every content file, listing every problem at once; else report coverage."""
    try:
        content, languages = _checked()
    except ContentProblems as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(f"{count} problem{'s' * (count > 1)}: the bot will not start, nor take up the edit, until they are fixed", file=sys.stderr)
        return 1
    per_topic = Counter(e.topic for e in content.entries.values())
    print(f"content OK: {len(content.entries)} entries, {len(content.signs)} red-flag signs")
    print(f"{'topic':<24}{'entries':>8}{'examples':>10}{'fewest':>8}")
    for topic, count in sorted(per_topic.items()):
        examples = [len(e.examples) for e in content.entries.values() if e.topic == topic]
        print(f"{topic:<24}{count:>8}{sum(examples):>10}{min(examples):>8}")
    tiers = Counter(s.tier for s in content.signs)
    terms = sum(len(s.phrasings) + len(s.combinations) for s in content.signs)
    counts = ", ".join(f"{tiers[t]} {t}" for t in ("emergency", "crisis", "urgent"))
    print(f"red flags: {counts} signs, {terms} phrasings and combinations")
    if content.flow:
        print(f"triage flow: {len(content.flow.steps)} steps, {len(content.flow.outcomes)} outcomes")
    print(f"other languages: {', '.join(t.name for t in languages.tongues) or 'none'}")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    """The terminal chat, for people (numbered buttons) or scripts (`--json`, CONTRACT.md §3)."""
    from bot.terminal import run_terminal

    return run_terminal(json_mode=args.json, user_id=args.user)


def cmd_run(_: argparse.Namespace) -> int:
    """Run on Telegram (polling, or a webhook when WEBHOOK_URL is set)."""
    from bot.service import run_telegram

    settings = Settings.from_env()
    if not settings.token:
        print("TELEGRAM_BOT_TOKEN is not set: see README, 'Using it' (On Telegram).", file=sys.stderr)
        return 2
    return run_telegram(settings)


def cmd_health(_: argparse.Namespace) -> int:
    """Exit 0 when the database answers and this worker's heartbeat is recent (a container's
    health check); say which is wrong otherwise."""
    import time

    from bot.service import HEALTHY_WITHIN, worker_name
    from bot.storage import open_store

    settings = Settings.from_env()
    store = open_store(settings.data_dir, settings.database_url)
    try:
        beat = store.last_beat(worker_name(settings))
        updates, letters = store.backlog()
    finally:
        store.close()
    age = None if beat is None else time.time() - beat
    if age is None or age > HEALTHY_WITHIN:
        print(f"unhealthy: no heartbeat from {worker_name(settings)} in the last {HEALTHY_WITHIN:.0f} s", file=sys.stderr)
        return 1
    print(f"healthy: heartbeat {age:.0f} s ago; {updates} update(s) to handle, {letters} repl(ies) to deliver")
    return 0


DEBUG_HELP = "log at DEBUG (message text included: never in production) and show tracebacks of start-up errors"


#: What each command does, shown by --help: (one-line summary, description, examples).
HELP: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "": (
        "",
        "Back-spasm help bot: answers questions about back muscle spasms from the hospital's guide, with a "
        "red-flag safety net and a guided /triage. With no command it runs on Telegram when TELEGRAM_BOT_TOKEN "
        "is set, else it starts the terminal chat.",
        ("python -m bot check", "python -m bot chat", "TELEGRAM_BOT_TOKEN=123:abc python -m bot run"),
    ),
    "chat": (
        "chat in the terminal",
        "Chat with the bot in the terminal: buttons are numbered, type a number to press one. The conversation "
        "is kept as on Telegram, so it continues next time. Ctrl-D or Ctrl-C leaves.",
        ("python -m bot chat", "python -m bot chat --user 7", """echo '{"text": "/triage"}' | python -m bot chat --json"""),
    ),
    "ask": (
        "answer a question (or each line of stdin)",
        "Print the bot's answer to one question, or to every line of standard input.",
        ("python -m bot ask how long should I ice my back", "python -m bot ask --json 'I suddenly cannot pee'",
         "python -m bot ask --json < questions.txt"),
    ),
    "eval": (
        "score the engine on labelled YAML sets",
        "Ask every question of labelled sets; print the safety and quality figures and every miss, and exit 1 "
        "when a set misses its pass marks. --report also writes a page to look at: the figures, each topic's "
        "precision, recall and F1, a topic confusion matrix and every miss.",
        ("python -m bot eval tests/data/eval.yaml", "python -m bot eval tests/data/eval.yaml --report report/"),
    ),
    "check": (
        "validate the content files and report coverage",
        "Validate every content file and list every problem at once, each with its file, line and entry "
        "(exit 1); with none, print how many entries, examples and warning signs there are.",
        ("python -m bot check", "BOT_CONTENT_DIR=/path/to/a/copy python -m bot check"),
    ),
    "health": (
        "check that the bot running here is alive",
        "Exit 0 when the database answers and the bot process running with this configuration wrote its "
        "heartbeat recently; exit 1 otherwise (a container's or a supervisor's health check).",
        ("python -m bot health", "docker compose exec bot python -m bot health"),
    ),
    "run": (
        "run on Telegram",
        "Run the bot on Telegram: long polling, or a webhook when WEBHOOK_URL is set (see README).",
        ("TELEGRAM_BOT_TOKEN=123:abc python -m bot run",
         "TELEGRAM_BOT_TOKEN=123:abc WEBHOOK_URL=https://bot.example.org python -m bot run"),
    ),
}


def _described(name: str) -> dict[str, Any]:
    """The description and examples of a command, laid out as written (argparse would join the examples)."""
    _, description, examples = HELP[name]
    epilog = "\n".join(["examples:", *(f"  {example}" for example in examples)])
    return {"description": textwrap.fill(description, 100), "epilog": epilog, "formatter_class": argparse.RawDescriptionHelpFormatter}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", **_described(""))
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command")
    names = ("chat", "ask", "eval", "check", "health", "run")
    commands = {name: sub.add_parser(name, help=HELP[name][0], **_described(name)) for name in names}
    ask = commands["ask"]
    ask.add_argument("--json", action="store_true", help="print JSON objects (CONTRACT.md §2)")
    ask.add_argument("question", nargs="*", help="the question; none: read stdin, one per line")
    ask.set_defaults(func=cmd_ask)
    ev = commands["eval"]
    ev.add_argument("files", nargs="+", metavar="SET.yaml", help="labelled sets (the format of tests/data/eval.yaml)")
    ev.add_argument("--report", metavar="DIR", type=Path, help="also write DIR/index.html with the figures drawn")
    ev.set_defaults(func=cmd_eval)
    commands["check"].set_defaults(func=cmd_check)
    chat = commands["chat"]
    chat.add_argument("--json", action="store_true", help="JSON lines in and out (CONTRACT.md §3)")
    chat.add_argument("--user", type=int, default=1, help="whose conversation to continue (default 1)")
    chat.set_defaults(func=cmd_chat)
    commands["health"].set_defaults(func=cmd_health)
    run = commands["run"]
    run.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    # First of all, so that nothing printed from here on can show the token.
    protect(os.environ.get("TELEGRAM_BOT_TOKEN"))
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    for chatty in ("httpx", "apscheduler"):  # a line per poll, and per run of the purge
        logging.getLogger(chatty).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    if args.debug:
        logging.getLogger().setLevel(logging.DEBUG)
    try:
        if args.command is None:
            if Settings.from_env().token:
                return cmd_run(args)
            args = build_parser().parse_args(["chat"])
        return args.func(args)
    except BrokenPipeError:  # `python -m bot check | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush is quiet too
        return 0
    except KeyboardInterrupt:  # Ctrl-C while the content loads or a long eval runs: no traceback
        print(file=sys.stderr)
        return 130
    except ContentError as exc:
        print(f"content error: {exc}", file=sys.stderr)
        return 1
    except StartupError as exc:
        if args.debug:
            sys.stderr.write(redact("".join(traceback.format_exception(exc))))
        print(f"cannot start: {redact(str(exc))}", file=sys.stderr)
        return 2
