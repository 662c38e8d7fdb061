"""The terminal adapter: `python -m bot chat` for people, `chat --json` for scripts (CONTRACT.md §3).

Buttons are shown as numbered choices; typing a number presses it. State lives in the same
store as the Telegram bot, so a conversation continues across runs. Ctrl-D (end of input) or
Ctrl-C leaves the chat quietly.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from bot.brain import Brain
from bot.dialogue import Dialogue
from bot.replies import Button, Reply, plain
from bot.settings import Settings
from bot.storage import open_store


def run_terminal(json_mode: bool, user_id: int, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    settings = Settings.from_env()
    brain = Brain.load(settings)
    store = open_store(settings.data_dir, settings.database_url)
    try:
        if json_mode:
            return _json_chat(Dialogue(brain, store), user_id, stdin, stdout)
        return _human_chat(Dialogue(brain, store), user_id, stdin, stdout)
    finally:
        store.close()


def _json_chat(dialogue: Dialogue, user_id: int, stdin: TextIO, stdout: TextIO) -> int:
    for line in stdin:  # every line, a blank one too, gets at least one reply (CONTRACT.md §3)
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            message = {"text": line.rstrip("\n")}
        if not isinstance(message, dict):
            message = {"text": str(message)}
        if "button" in message:
            replies = dialogue.handle_button(user_id, str(message["button"]))
        else:
            replies = dialogue.handle_text(user_id, str(message.get("text", "")))
        step = dialogue.current_step(user_id)
        for reply in replies:
            data = reply.to_json()
            data["state"] = step
            stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
        stdout.flush()
    return 0


def _human_chat(dialogue: Dialogue, user_id: int, stdin: TextIO, stdout: TextIO) -> int:
    """Chat until Ctrl-D or Ctrl-C, either of which leaves quietly."""
    try:
        return _chat_loop(dialogue, user_id, stdin, stdout)
    except KeyboardInterrupt:
        print(file=stdout)
        return 0


def _chat_loop(dialogue: Dialogue, user_id: int, stdin: TextIO, stdout: TextIO) -> int:
    content = dialogue.brain.content
    print(content.message("terminal_hint"), file=stdout)
    _show(dialogue.handle_text(user_id, "/start"), stdout)
    buttons: list[Button] = []
    while True:
        stdout.write("\nyou> ")
        stdout.flush()
        line = stdin.readline()
        if not line:
            print(file=stdout)
            return 0
        typed = line.strip()
        if typed.isascii() and typed.isdigit() and 1 <= int(typed) <= len(buttons):
            replies = dialogue.handle_button(user_id, buttons[int(typed) - 1].data)
        else:
            replies = dialogue.handle_text(user_id, typed)
        buttons = _show(replies, stdout)


def _show(replies: list[Reply], stdout: TextIO) -> list[Button]:
    """Print replies; return the buttons of the last one that offers any, numbered from 1."""
    buttons: list[Button] = []
    for reply in replies:
        print(f"\nbot> {plain(reply.text)}", file=stdout)
        if reply.buttons:
            buttons = list(reply.buttons)
            for number, button in enumerate(buttons, 1):
                print(f"  [{number}] {button.label}", file=stdout)
    return buttons
