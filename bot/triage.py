"""The guided /triage flow: a small state machine over the steps of `flows/triage.yaml`.

The flow is data; this module validates it and moves a user's flow state along. The state is a
plain dict (step, answers, history) so the store can keep it as JSON and every front end shares it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process

from bot.errors import ContentError

SCREENS = ("emergency", "urgent")
OUTCOMES = ("emergency", "urgent", "soon", "self_care")
#: A flow untouched this long (seconds) expires.
IDLE_SECONDS = 30 * 60
#: How close a whole typed answer must be to a choice's label or alias (rapidfuzz ratio, 0–100):
#: "yess" counts, a question that happens to contain "i have" does not.
TYPED_ANSWER_SCORE = 85


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class Step:
    id: str
    question: str
    summary: str
    choices: tuple[Choice, ...]
    screen: str | None
    #: Warning signs (ids of intents/red_flags.yaml) that answer this screen "yes" when typed.
    signs: tuple[str, ...] = ()

    def choice(self, value: str) -> Choice | None:
        return next((c for c in self.choices if c.value == value), None)


#: A condition of the flow file: each named step answered with one of the listed values.
Condition = dict[str, tuple[str, ...]]


def holds(condition: Condition, answers: dict[str, str]) -> bool:
    return all(answers.get(step) in values for step, values in condition.items())


@dataclass(frozen=True)
class PlanItem:
    text: str
    when: Condition
    unless: Condition | None = None
    outcomes: tuple[str, ...] = OUTCOMES

    def fits(self, answers: dict[str, str], outcome: str) -> bool:
        return outcome in self.outcomes and holds(self.when, answers) and not (self.unless and holds(self.unless, answers))


@dataclass(frozen=True)
class Implied:
    """A set of answers that is itself a warning sign ("severe" and "getting worse"), so the
    flow and a typed message place it in the same tier: the sign's, from red_flags.yaml."""

    when: Condition
    sign: str
    tier: str


@dataclass(frozen=True)
class Flow:
    """The validated flow file."""

    steps: dict[str, Step]
    order: tuple[str, ...]
    outcomes: dict[str, str]
    soon_when: tuple[Condition, ...]
    plan: tuple[PlanItem, ...]
    aliases: dict[str, tuple[str, ...]]
    texts: dict[str, Any]
    implies: tuple[Implied, ...] = ()

    @property
    def screens(self) -> tuple[str, ...]:
        return tuple(s for s in self.order if self.steps[s].screen)

    # -- moving along --------------------------------------------------------------------

    def start(self, now: float) -> dict[str, Any]:
        """A fresh flow state at the first step."""
        return {"step": self.order[0], "answers": {}, "history": [], "updated": now}

    def answer(self, state: dict[str, Any], value: str, now: float) -> str | None:
        """Record an answer to the current step; return the outcome when the flow ends.

        A screening Yes or Not sure ends the flow at once, unless the user already heard the
        urgent advice for a sign they typed and chose to go on for the self-care part."""
        step = self.steps[state["step"]]
        state["answers"][step.id] = value
        state["history"].append(step.id)
        state["updated"] = now
        if step.screen and value in ("yes", "unsure") and not state.get("flags"):
            state["step"] = None
            return step.screen
        following = [s for s in self.order[self.order.index(step.id) + 1 :] if s not in state["answers"]]
        if following:
            state["step"] = following[0]
            return None
        state["step"] = None
        return self.outcome(state["answers"], state.get("flags", {}))

    def flag(self, state: dict[str, Any], signs: dict[str, str]) -> None:
        """Warning signs typed mid-flow ({sign id: tier}) become answers: the screen they belong to
        is answered Yes, and the outcome can never be below their tier."""
        state.setdefault("flags", {}).update(signs)
        for step_id in self.screens:
            if set(self.steps[step_id].signs) & set(signs) and state["answers"].get(step_id) != "yes":
                state["answers"][step_id] = "yes"
                if step_id not in state["history"]:
                    state["history"].append(step_id)
        if state["step"] in state["answers"]:
            later = [s for s in self.order if s not in state["answers"]]
            state["step"] = later[0] if later else state["step"]

    def back(self, state: dict[str, Any], now: float) -> None:
        """Go back one step, forgetting that step's answer."""
        if state["history"]:
            previous = state["history"].pop()
            state["answers"].pop(previous, None)
            state["step"] = previous
        state["updated"] = now

    def outcome(self, answers: dict[str, str], flags: dict[str, str] | None = None) -> str:
        """The most urgent of: a screen answered Yes or Not sure, a typed sign, a set of answers
        that is a sign; else `soon` when one of its sets of answers holds, else `self_care`."""
        tiers = {self.steps[s].screen for s, v in answers.items() if s in self.steps and self.steps[s].screen and v in ("yes", "unsure")}
        tiers |= set((flags or {}).values())
        tiers |= {rule.tier for rule in self.implies if holds(rule.when, answers)}
        for tier in SCREENS:
            if tier in tiers:
                return tier
        return "soon" if any(holds(rule, answers) for rule in self.soon_when) else "self_care"

    def plan_for(self, answers: dict[str, str], outcome: str) -> list[str]:
        return [item.text for item in self.plan if item.fits(answers, outcome)]

    def read_back(self, answers: dict[str, str]) -> list[str]:
        """What the user said, short: the warning signs said yes or not sure to, how many were No,
        and the answers about the spasm on one line."""
        texts = self.texts["read_back"]
        flagged = [s for s in self.screens if answers.get(s) in ("yes", "unsure")]
        lines = []
        for step_id in flagged:
            choice = self.steps[step_id].choice(answers[step_id])
            lines.append(f"• {self.steps[step_id].summary}: {choice.label if choice else answers[step_id]}")
        denied = sum(answers.get(s) == "no" for s in self.screens)
        if denied:
            key = "all_no" if denied == len(self.screens) else "other_no"
            lines.append("• " + texts[key].format(count=denied))
        shape = [self.steps[s].choice(answers[s]) for s in self.order if not self.steps[s].screen and s in answers]
        if shape:
            lines.append("• " + " · ".join(c.label for c in shape if c))
        return lines

    def progress(self, step_id: str) -> str:
        """"Safety check 3 of 14", or "Question 2 of 6" for the questions about the spasm."""
        screens = self.screens
        if step_id in screens:
            return self.texts["progress_screen"].format(n=screens.index(step_id) + 1, total=len(screens))
        rest = [s for s in self.order if s not in screens]
        return self.texts["progress_plan"].format(n=rest.index(step_id) + 1, total=len(rest))

    def typed_choice(self, step: Step, text: str) -> Choice | None:
        """The choice a typed answer means: its number, its label, or an alias ("yep", "nope")."""
        typed = " ".join(text.lower().replace("'", "").split()).strip(" .!?")
        if typed.isascii() and typed.isdigit() and 1 <= int(typed) <= len(step.choices):
            return step.choices[int(typed) - 1]
        options: dict[str, Choice] = {}
        first_words = [c.label.lower().split()[0] for c in step.choices]
        for choice, first in zip(step.choices, first_words, strict=True):
            options[choice.label.lower()] = choice
            options[choice.label.lower().split(" — ")[0]] = choice
            options[choice.value.replace("_", " ")] = choice
            if first_words.count(first) == 1 and first.isalpha() and len(first) >= 4:  # "lower" for "Lower back"
                options[first] = choice
            for alias in self.aliases.get(choice.value, ()):
                options[alias] = choice
        if typed in options:
            return options[typed]
        found = process.extractOne(typed, list(options), scorer=fuzz.ratio, score_cutoff=TYPED_ANSWER_SCORE)
        return options[found[0]] if found and len(typed) >= 3 else None

    def expired(self, state: dict[str, Any], now: float) -> bool:
        return now - float(state.get("updated", now)) > IDLE_SECONDS


def _fail(where: str, problem: str) -> None:
    raise ContentError(f"{where}: {problem}")


def _condition(raw: Any, where: str, steps: dict[str, Step]) -> Condition:
    if not isinstance(raw, dict):
        _fail(where, "a condition must map step ids to lists of answer values")
    out = {}
    for step_id, values in raw.items():
        if step_id not in steps:
            _fail(where, f"condition names unknown step '{step_id}'")
        values = values if isinstance(values, list) else [values]
        for value in values:
            if steps[step_id].choice(str(value)) is None:
                _fail(where, f"step '{step_id}' has no answer '{value}'")
        out[step_id] = tuple(str(v) for v in values)
    return out


def validate(data: Any, name: str, tiers: dict[str, str]) -> Flow:
    """Check the flow file and build the Flow; a problem names the file and the step."""
    if not isinstance(data, dict):
        _fail(name, "must be a mapping with steps, outcomes and plan")
    answer_sets = data.get("answer_sets") or {}
    steps: dict[str, Step] = {}
    for i, raw in enumerate(data.get("steps") or []):
        where = f"{name}, step {i + 1}"
        if not isinstance(raw, dict) or not str(raw.get("id", "")).isidentifier():
            _fail(where, "needs an 'id' in lower_snake_case")
        where = f"{name}, step '{raw['id']}'"
        if raw["id"] in steps:
            _fail(where, "duplicate step id")
        answers = raw.get("answers")
        answers = answer_sets.get(answers) if isinstance(answers, str) else answers
        if not isinstance(answers, list) or len(answers) < 2:
            _fail(where, "'answers' must be an answer set name or a list of two or more {value, label}")
        choices = []
        for choice in answers:
            if not isinstance(choice, dict) or not choice.get("value") or not choice.get("label"):
                _fail(where, "every answer needs a 'value' and a 'label'")
            choices.append(Choice(str(choice["value"]), str(choice["label"])))
        screen = raw.get("screen")
        if screen is not None and screen not in SCREENS:
            _fail(where, f"'screen' must be one of {SCREENS}")
        if screen and {c.value for c in choices} != {"yes", "no", "unsure"}:
            _fail(where, "a screen step must answer yes / no / unsure")
        for key in ("question", "summary"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                _fail(where, f"'{key}' must be a non-empty text")
        signs = raw.get("signs") or []
        if not isinstance(signs, list) or any(sign not in tiers for sign in signs):
            _fail(where, f"'signs' must list sign ids of intents/red_flags.yaml, has {signs!r}")
        steps[raw["id"]] = Step(raw["id"], raw["question"].strip(), raw["summary"], tuple(choices), screen, tuple(signs))
    if not steps:
        _fail(name, "no steps")
    outcomes_raw = data.get("outcomes") or {}
    if set(outcomes_raw) != set(OUTCOMES):
        _fail(name, f"'outcomes' must define exactly {OUTCOMES}")
    soon_when = tuple(_condition(c, f"{name}, outcome 'soon'", steps) for c in outcomes_raw["soon"].get("when_any") or [])
    plan = []
    for i, raw in enumerate(data.get("plan") or []):
        where = f"{name}, plan item {i + 1}"
        if not isinstance(raw, dict) or not isinstance(raw.get("text"), str) or not raw.get("source"):
            _fail(where, "needs 'text' and 'source'")
        unless = _condition(raw["unless"], where, steps) if raw.get("unless") else None
        outcomes = tuple(raw.get("outcomes") or OUTCOMES)
        if not set(outcomes) <= set(OUTCOMES):
            _fail(where, f"'outcomes' must be some of {OUTCOMES}")
        plan.append(PlanItem(raw["text"], _condition(raw.get("when") or {}, where, steps), unless, outcomes))
    implies = []
    for i, raw in enumerate(data.get("implies") or []):
        where = f"{name}, implies {i + 1}"
        if not isinstance(raw, dict) or raw.get("sign") not in tiers:
            _fail(where, "needs 'when' and a 'sign' id of intents/red_flags.yaml")
        implies.append(Implied(_condition(raw.get("when"), where, steps), raw["sign"], tiers[raw["sign"]]))
    texts = {k: v for k, v in data.items() if k not in ("steps", "outcomes", "plan", "answer_sets", "aliases", "implies")}
    required = ("intro", "expired", "cancelled", "continue", "continue_after_alarm",
                "read_back_title", "read_back", "progress_screen", "progress_plan", "typed_hint", "controls")
    for key in required:
        if key not in texts:
            _fail(name, f"missing '{key}'")
    aliases = {str(k): tuple(str(a) for a in v) for k, v in (data.get("aliases") or {}).items()}
    return Flow(
        steps=steps,
        order=tuple(steps),
        outcomes={k: str(v["text"]).strip() for k, v in outcomes_raw.items()},
        soon_when=soon_when,
        plan=tuple(plan),
        aliases=aliases,
        texts=texts,
        implies=tuple(implies),
    )
