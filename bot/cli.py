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
import traceback
from collections import Counter
from pathlib import Path

from bot.content import ContentError, load
from bot.errors import StartupError
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
    """Score the engine on labelled sets; exit 1 when one misses its pass marks."""
    from bot.evaluation import evaluate, format_report, load_items

    brain = _brain()
    failed = False
    for path in args.files:
        report = evaluate(brain, load_items(Path(path)))
        print(format_report(report, path))
        failed |= not report.passed
    return 1 if failed else 0


def cmd_check(_: argparse.Namespace) -> int:
    """Validate every content file and report coverage."""
    try:
        content = load()
    except ContentError as exc:
        print(f"content error: {exc}", file=sys.stderr)
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
        print("TELEGRAM_BOT_TOKEN is not set: see README, 'Run it on Telegram'.", file=sys.stderr)
        return 2
    return run_telegram(settings)


DEBUG_HELP = "log at DEBUG (message text included: never in production) and show tracebacks of start-up errors"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Back-spasm help bot.")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command")
    ask = sub.add_parser("ask", help="answer a question (or each line of stdin)")
    ask.add_argument("--json", action="store_true", help="print JSON objects (CONTRACT.md §2)")
    ask.add_argument("question", nargs="*", help="the question; none: read stdin, one per line")
    ask.set_defaults(func=cmd_ask)
    ev = sub.add_parser("eval", help="score the engine on labelled YAML sets")
    ev.add_argument("files", nargs="+")
    ev.set_defaults(func=cmd_eval)
    sub.add_parser("check", help="validate the content files and report coverage").set_defaults(func=cmd_check)
    chat = sub.add_parser("chat", help="chat in the terminal")
    chat.add_argument("--json", action="store_true", help="JSON lines in and out (CONTRACT.md §3)")
    chat.add_argument("--user", type=int, default=1, help="whose conversation to continue (default 1)")
    chat.set_defaults(func=cmd_chat)
    run = sub.add_parser("run", help="run on Telegram")
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
    except ContentError as exc:
        print(f"content error: {exc}", file=sys.stderr)
        return 1
    except StartupError as exc:
        if args.debug:
            sys.stderr.write(redact("".join(traceback.format_exception(exc))))
        print(f"cannot start: {redact(str(exc))}", file=sys.stderr)
        return 2
