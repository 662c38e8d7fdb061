"""The dialogue core: a user's message or button press, and their stored state, in; replies out.

Platform-independent: the terminal chat and the Telegram bot are thin adapters over `Dialogue`.
Red flags are checked first on every message, also in the middle of /triage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from bot.brain import ENTRY, MENU, TOPIC, Brain
from bot.replies import Button, Reply
from bot.storage import Store
from bot.text import MAX_CHARS
from bot.triage import SCREENS, Step

TRIAGE = "tr:"
CONTROLS = ("back", "restart", "cancel")
CONTINUE = TRIAGE + "continue"
OUTCOME = "triage.outcome."
#: How long the last answer is remembered for follow-ups ("and at night?"), in seconds.
CONTEXT_SECONDS = 10 * 60
COMMANDS = ("start", "help", "topics", "triage", "cancel", "about", "privacy", "forget")
#: `seen_step` when the adapter shows every reply as it is made (the terminal): any step was seen.
ANY = "*"


def parse_command(text: str) -> tuple[str, str] | None:
    """("forget", "now") for "/forget@bot now": the command's name and its argument; None when
    `text` is not a command."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return None
    parts = stripped[1:].split(maxsplit=1)
    return (parts[0].split("@")[0].lower() if parts else ""), (parts[1] if len(parts) > 1 else "")


class Dialogue:
    """Runs conversations over a `Brain` and a `Store`."""

    def __init__(self, brain: Brain, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.brain = brain
        self.store = store
        self.clock = clock
        self.flow = brain.content.flow

    # -- entry points ---------------------------------------------------------------------

    def handle_text(self, user_id: int, text: str, seen_step: str | None = ANY) -> list[Reply]:
        """A typed message or command. `seen_step` is the /triage question the user had seen when
        they typed it: a typed answer never answers a question that had not reached them."""
        state, notes = self._load(user_id)
        replies = notes + self._text(user_id, state, text or "", seen_step)
        if len(text or "") > MAX_CHARS:
            replies.append(self.say("too_long"))
        return replies

    def handle_button(self, user_id: int, data: str) -> list[Reply]:
        """A button press; stale or forged data gets a polite "expired" and the current question."""
        state, notes = self._load(user_id)
        return notes + self._button(user_id, state, data or "")

    def handle_group_text(self, text: str, bot_username: str) -> list[Reply]:
        """A message addressed to the bot in a group chat. Health stays private: a warning sign is
        answered at once, where it was written; everything else gets a button that opens a
        private chat (/triage starts there by itself)."""
        alarm = self.brain.alarm(text)
        if alarm:
            return [alarm]
        command = parse_command(text)
        start = "triage" if command and command[0] == "triage" else "group"
        button = Button(self.brain.content.message("open_private"), f"/start {start}", url=f"https://t.me/{bot_username}?start={start}")
        return [replace(self.say("group_private"), buttons=(button,))]

    def handle_edit(self, user_id: int, text: str) -> list[Reply]:
        """An edited message: a warning sign it adds is answered (and recorded mid-flow); an edit
        mid-flow otherwise gets a note that the answer was taken and Back changes it."""
        state, notes = self._load(user_id)
        alarm = self._alarm(user_id, state, text)
        if alarm:
            return [*notes, *alarm]
        return [*notes, self.say("edited_answer")] if state.get("flow") else notes

    def handle_unreadable(self, user_id: int) -> list[Reply]:
        """A sticker, photo, voice note…: say what the bot can read, and mid-flow ask again."""
        replies = [self.say("non_text")]
        if self.current_step(user_id):
            replies += self.handle_button(user_id, CONTINUE)
        return replies

    def delivered(self, user_id: int, replies: Sequence[Reply]) -> None:
        """An adapter confirms that `replies` reached the user. Once a /triage outcome has, the
        same last press repeated (a double tap, an update redelivered after a crash) does not
        send the plan a second time."""
        if not any((r.id or "").startswith(OUTCOME) for r in replies):
            return
        state = self.store.load(user_id)
        if state.get("done"):
            state["done"]["delivered"] = True
            self._save(user_id, state)

    def current_step(self, user_id: int) -> str | None:
        """The step the user is at, or None outside a flow."""
        flow = self.store.load(user_id).get("flow")
        return flow.get("step") if flow else None

    # -- typed messages -------------------------------------------------------------------

    def alarm(self, text: str) -> Reply | None:
        """The warning-sign reply a typed message gets, needing no stored state (an adapter sends it
        at once when storage is slow). A command's name is not a symptom ("/cancel" is not
        "cancer"); its arguments are read."""
        command = parse_command(text)
        return self.brain.alarm(command[1] if command else text)

    def _text(self, user_id: int, state: dict[str, Any], text: str, seen_step: str | None) -> list[Reply]:
        stripped = text.strip()
        command = parse_command(text)
        alarm = self._alarm(user_id, state, command[1] if command else text)
        if alarm:
            return alarm
        if command:
            name, argument = command
            if name == "start" and argument.strip() == "triage":  # the deep link from a group
                name = "triage"
            return self._command(user_id, state, name)
        flow = state.get("flow")
        if flow:
            step = self.flow.steps[flow["step"]]
            choice = self.flow.typed_choice(step, stripped)
            if choice and seen_step not in (ANY, step.id):
                return [self._question(state)]  # typed before this question reached the user
            if choice:
                return self._advance(user_id, state, choice.value)
            reply = self.brain.answer(stripped)
            lead = [reply] if reply.kind in ("answer", "smalltalk") else [self._plain(self.flow.texts["typed_hint"])]
            return [*lead, self._question(state)]
        reply = self.brain.answer(stripped, self._context(state))
        if reply.kind == "answer" and reply.id in self.brain.content.entries:
            state["last"] = {"id": reply.id, "updated": self.clock()}
            self._save(user_id, state)
        return [reply]

    def _context(self, state: dict[str, Any]) -> str | None:
        """The entry answered last, while a follow-up to it is still likely."""
        last = state.get("last")
        return last["id"] if last and self.clock() - float(last.get("updated", 0)) < CONTEXT_SECONDS else None

    def _alarm(self, user_id: int, state: dict[str, Any], text: str) -> list[Reply]:
        """The warning-sign reply, if any. Mid-flow the signs are recorded as answers (the outcome
        can never be below them), and a second reply offers to go on with the questions."""
        alarm, signs = self.brain.signs(text)
        flow = state.get("flow")
        if not alarm or not flow:
            return [alarm] if alarm else []
        self.flow.flag(flow, {s.id: s.tier for s in signs if s.tier in SCREENS})
        self._save(user_id, state)
        go_on_button = Button(self.flow.texts["continue"], CONTINUE)
        go_on = Reply(self.flow.texts["continue_after_alarm"], "urgent", (go_on_button,), state=flow["step"])
        return [alarm, replace(go_on, urgency=alarm.urgency)]

    def _command(self, user_id: int, state: dict[str, Any], command: str) -> list[Reply]:
        in_flow = bool(state.get("flow"))
        if command == "triage":
            state.pop("done", None)
            state["flow"] = self.flow.start(self.clock())
            self._save(user_id, state)
            return [self._question(state, intro=True)]
        if command == "cancel":
            state.pop("flow", None)
            self._save(user_id, state)
            return [Reply(self.flow.texts["cancelled"], "answer", buttons=self.brain.main_buttons())]
        if command == "forget":
            self.store.delete(user_id)
            return [self.say("forgot")]
        if command in ("start", "help", "topics", "about", "privacy"):
            key = {"start": "welcome", "topics": "topics"}.get(command, command)
            menus = {"start": self.brain.main_buttons(), "topics": self.brain.topic_buttons()}
            buttons = menus.get(command, ())
            if in_flow:
                buttons = (Button(self.flow.texts["continue"], CONTINUE), *buttons)
            reply = replace(self.say(key), buttons=buttons)
            return [reply]
        replies = [self.say("unknown_command")]
        return replies + ([self._question(state)] if in_flow else [])

    # -- buttons --------------------------------------------------------------------------

    def _button(self, user_id: int, state: dict[str, Any], data: str) -> list[Reply]:
        content = self.brain.content
        if data.startswith("/") and data[1:] in COMMANDS:
            return self._command(user_id, state, data[1:])
        if data.startswith(MENU) and data[len(MENU):] in ("", *map(str, range(1, 10))):
            page = int(data[len(MENU):] or 1)
            return [replace(self.say("topics"), buttons=self.brain.topic_buttons(page))]
        if data.startswith(TOPIC) and data[len(TOPIC):] in content.messages["topic_labels"]:
            return [self.brain.topic_menu(data[len(TOPIC):])]
        if data.startswith(ENTRY) and data[len(ENTRY):] in content.entries:
            state["last"] = {"id": data[len(ENTRY):], "updated": self.clock()}
            self._save(user_id, state)
            return [self.brain.entry_reply(content.entries[data[len(ENTRY):]])]
        flow, done = state.get("flow"), state.get("done")
        if flow and data == CONTINUE:
            return [self._question(state)]
        step_id, _, value = data.removeprefix(TRIAGE).partition(":") if data.startswith(TRIAGE) else ("", "", "")
        if flow and step_id:
            step = self.flow.steps[flow["step"]]
            if step_id == step.id and value in CONTROLS:
                return self._control(user_id, state, value)
            if step_id == step.id and step.choice(value):
                return self._advance(user_id, state, value)
            if flow["history"] and step_id == flow["history"][-1] and flow["answers"].get(step_id) == value:
                return [self._question(state)]  # the same press again (its reply was lost): repeat, don't scold
        if done and step_id == done["last"] and value == "back":
            return self._reopen(user_id, state)
        if done and step_id == done["last"] and done["answers"].get(step_id) == value:
            # The last press again: the plan again if its reply may have been lost, else nothing new.
            return [] if done.get("delivered") else [self._outcome(done)]
        expired = self.say("expired_button")
        if flow:
            return [expired, self._question(state)]
        return [replace(expired, buttons=self.brain.main_buttons())]

    def _control(self, user_id: int, state: dict[str, Any], control: str) -> list[Reply]:
        if control == "cancel":
            return self._command(user_id, state, "cancel")
        if control == "restart":
            return self._command(user_id, state, "triage")
        self.flow.back(state["flow"], self.clock())
        self._save(user_id, state)
        return [self._question(state)]

    # -- the flow -------------------------------------------------------------------------

    def _advance(self, user_id: int, state: dict[str, Any], value: str) -> list[Reply]:
        outcome = self.flow.answer(state["flow"], value, self.clock())
        if outcome is None:
            self._save(user_id, state)
            return [self._question(state)]
        flow = state.pop("flow")
        # Kept until it expires, so a press repeated after a lost reply gets the plan again, and
        # Back can reopen the last question.
        state["done"] = {
            "outcome": outcome,
            "answers": flow["answers"],
            "history": flow["history"],
            "flags": flow.get("flags", {}),
            "last": flow["history"][-1],
            "updated": self.clock(),
        }
        self._save(user_id, state)
        return [self._outcome(state["done"])]

    def _reopen(self, user_id: int, state: dict[str, Any]) -> list[Reply]:
        """Back after the outcome: the last question again, its answer forgotten."""
        done = state.pop("done")
        answers = {k: v for k, v in done["answers"].items() if k != done["last"]}
        state["flow"] = {"step": done["last"], "answers": answers, "history": done["history"][:-1], "updated": self.clock()}
        if done.get("flags"):
            state["flow"]["flags"] = done["flags"]
        self._save(user_id, state)
        return [self._question(state)]

    def _question(self, state: dict[str, Any], intro: bool = False) -> Reply:
        flow = state["flow"]
        step: Step = self.flow.steps[flow["step"]]
        buttons = [Button(c.label, f"{TRIAGE}{step.id}:{c.value}") for c in step.choices]
        labels = self.flow.texts["controls"]
        controls = [c for c in CONTROLS if c != "back" or flow["history"]]
        buttons += [Button(labels[c], f"{TRIAGE}{step.id}:{c}") for c in controls]
        text = f"{self.flow.progress(step.id)}\n{step.question}"
        if intro:
            screens = len(self.flow.screens)
            counts = {"screens": str(screens), "questions": str(len(self.flow.order) - screens)}
            text = f"{self.flow.texts['intro'].strip().format(**counts)}\n\n{text}"
        return Reply(text, "answer", buttons=tuple(buttons), id=f"triage.{step.id}", score=100.0, state=step.id)

    def _outcome(self, done: dict[str, Any]) -> Reply:
        outcome, answers = done["outcome"], done["answers"]
        parts = [self.flow.outcomes[outcome]]
        finished = all(s in answers for s in self.flow.order)  # went on to the end after a typed sign
        if outcome in ("soon", "self_care") or finished:
            parts.append("\n".join(self.flow.plan_for(answers, outcome)))
        parts.append(self.flow.texts["read_back_title"] + "\n" + "\n".join(self.flow.read_back(answers)))
        urgency = outcome if outcome in ("emergency", "urgent") else None
        labels = self.flow.texts["controls"]
        buttons = (
            Button(labels["back"], f"{TRIAGE}{done['last']}:back"),
            Button(labels["restart"], "/triage"),
            self.brain.menu_button(),
        )
        return Reply(
            self.brain.fill("\n\n".join(parts)),
            "urgent" if urgency else "answer",
            buttons=buttons,
            id=f"{OUTCOME}{outcome}",
            score=100.0,
            urgency=urgency,
        )

    # -- state and small helpers ----------------------------------------------------------

    def _load(self, user_id: int) -> tuple[dict[str, Any], list[Reply]]:
        state = self.store.load(user_id)
        if state.get("done") and self.flow.expired(state["done"], self.clock()):
            state.pop("done")
            self._save(user_id, state)
        if state.get("last") and self._context(state) is None:
            state.pop("last")
            self._save(user_id, state)
        flow = state.get("flow")
        if flow and (flow.get("step") not in self.flow.steps or self.flow.expired(flow, self.clock())):
            state.pop("flow")
            self._save(user_id, state)
            return state, [self._plain(self.flow.texts["expired"])]
        return state, []

    def _save(self, user_id: int, state: dict[str, Any]) -> None:
        self.store.save(user_id, state, self.clock())

    def say(self, key: str) -> Reply:
        """The message `key` of messages.yaml, with the emergency numbers filled in."""
        return self._plain(self.brain.fill(self.brain.content.message(key)))

    @staticmethod
    def _plain(text: str) -> Reply:
        return Reply(text, "smalltalk", topic="smalltalk")

