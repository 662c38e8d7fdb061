"""The answer engine: red flags first, then ranking (classifier and fuzzy matcher), then a decision.

It holds no per-user state; `dialogue.py` adds conversations on top of it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bot.content import TIERS, Content, Entry, Sign, load
from bot.crisis_net import CrisisNet
from bot.languages import Tongue, load_languages
from bot.lookalikes import lookalikes
from bot.matching import OUT_OF_SCOPE, Matcher, Ranking
from bot.ranking import Blend, Ranker
from bot.red_flags import Finding, RedFlagDetector
from bot.replies import Button, Reply
from bot.settings import Settings
from bot.text import Speller, english_words, tokenize, words_only

#: A match at least this good answers directly …
ANSWER_SCORE = 15.0
#: … unless another entry of another topic is this close: then ask "did you mean".
CLARIFY_MARGIN = 1.0
#: Below ANSWER_SCORE but at least this: "did you mean" with the best few.
CLARIFY_SCORE = 10.0
#: Below this share of known words the message is about something else: the fallback; if it is
#: about back pain, the nearest answer with a line on what the guide does not cover.
MIN_COVERAGE = 0.5
#: A message that names another part of the body and never the back needs a match this good.
ELSEWHERE_SCORE = 50.0
#: A message about back pain that places no entry this well gets the "tell me more" fallback.
NEAREST_SCORE = 5.0
#: A message of at most this many words may be a follow-up to the answer before it …
FOLLOW_UP_WORDS = 6
#: … read as one when an entry near the last answer scores at least this share of the best.
FOLLOW_UP_SHARE = 0.5
#: How many entries a "did you mean" offers.
CLARIFY_CHOICES = 3
#: At most this many buttons under one message: a phone shows them without scrolling.
MAX_BUTTONS = 8
#: Topics on one page of the topic menu.
TOPICS_PER_PAGE = 6
#: Button data prefixes (kept short: Telegram allows 64 bytes).
ENTRY, TOPIC, MENU = "e:", "t:", "m:"


@dataclass(frozen=True)
class Thresholds:
    """The decision thresholds, so an evaluation can try others."""

    answer: float = ANSWER_SCORE
    clarify: float = CLARIFY_SCORE
    margin: float = CLARIFY_MARGIN
    coverage: float = MIN_COVERAGE
    nearest: float = NEAREST_SCORE
    blend: Blend = field(default_factory=Blend)
    elsewhere: float = ELSEWHERE_SCORE


@dataclass(frozen=True)
class Alarm:
    """The reply to a warning sign and the signs it answers."""

    reply: Reply
    signs: tuple[Sign, ...]


@dataclass(frozen=True)
class Reading:
    """A message read: a reply settled before matching (a red flag, another language, a question
    about a condition), or the ranked entries for the thresholds to decide on."""

    settled: Reply | None
    ranking: Ranking = field(default_factory=lambda: Ranking([], 0.0))
    #: The message as read (spelling corrected, denied signs left out).
    tokens: tuple[str, ...] = ()


class Brain:
    """Answers one message from the content, with no memory of earlier ones."""

    def __init__(self, content: Content, settings: Settings | None = None, thresholds: Thresholds | None = None) -> None:
        self.content = content
        self.settings = settings or Settings.from_env()
        self.thresholds = thresholds or Thresholds()
        language = content.language
        phrasings = [t for e in content.entries.values() for t in (e.question, *e.examples)]
        asked = _words(content, phrasings)
        known = asked | _words(content, [e.answer for e in content.entries.values()]) | language.known_words
        english = english_words()
        lookalikes()  # read now (from the cache), not on the first message with a foreign letter
        speller = Speller(known, language.words, english)
        self.detector = RedFlagDetector(content.signs, language, speller)
        self.matcher = Matcher(content.entries.values(), language, speller, asked, content.out_of_scope, ignore=self.detector.vocabulary())
        self.ranker = Ranker(content.entries.values(), self.matcher, language)
        reading = (content.root / "language.yaml").read_text(encoding="utf-8")
        examples = [*phrasings, *content.out_of_scope]
        self.crisis = CrisisNet.learn(content.signs, examples, self._sentences, reading, self.ranker.classifier)
        self.languages = load_languages(content.root / "intents" / "languages.yaml", content, english)

    @classmethod
    def load(cls, settings: Settings | None = None) -> Brain:
        """Load, validate and index the content (the whole start-up cost)."""
        return cls(load(), settings)

    # -- the answer path ------------------------------------------------------------------

    def alarm(self, text: str) -> Reply | None:
        """The urgent-care or crisis reply when `text` holds a warning sign, in any language read."""
        return self.signs(text)[0]

    def signs(self, text: str) -> tuple[Reply | None, tuple[Sign, ...]]:
        """`alarm`, with the signs it found (the triage records them as answers)."""
        found = self._safety(text)[0]
        return (found.reply, found.signs) if found else (None, ())

    def answer(self, text: str, context: str | None = None) -> Reply:
        """The reply to a free-text message: red-flag advice, an answer, a question back, or help.

        `context` is the entry answered just before: a short follow-up with no topic of its own
        ("for how long?", "and at night?") is read as a question about it.
        """
        reading = self.read(text)
        if reading.settled:
            return reading.settled
        previous = self.content.entries.get(context or "")
        if previous and len(words_only(reading.tokens)) <= FOLLOW_UP_WORDS:
            return self.decide(self._follow_up(reading, previous))
        return self.decide(reading.ranking)

    def read(self, text: str) -> Reading:
        """Everything known about a message before the thresholds decide (the tuning script
        reads once and tries many thresholds)."""
        alarm, finding, tongue = self._safety(text)
        if alarm:
            return Reading(alarm.reply)
        if tongue:  # a language the guide is not in: say so, with the signs that must not wait
            return Reading(Reply(self.fill(tongue.reads_english), "fallback", buttons=self.main_buttons(), id=f"language.{tongue.code}"))
        if finding.asked:  # "could this be cancer?": the warning signs and when to see a doctor
            return Reading(self.entry_reply(self.content.entries[self.content.asked_answer]))
        return Reading(None, self.rank(finding.rest), finding.rest)

    def _follow_up(self, reading: Reading, previous: Entry) -> Ranking:
        """A short message read against the answer before it: the best entry of that answer's topic
        or follow-ups wins when it is nearly as good as the best of all ("for how long?" after the
        ice answer: how to ice; "is heat good?" after the desk answer: heat, a topic of its own).
        A message that places nowhere on its own ("is it safe?") is read together with the question
        answered before."""
        ranking = self.ranker.rank(reading.tokens, self.thresholds.blend, limit=len(self.content.entries))
        if ranking.candidates and ranking.candidates[0].entry is OUT_OF_SCOPE:  # "what's the weather?"
            return reading.ranking
        placed = [c for c in ranking.candidates if c.entry is not OUT_OF_SCOPE]
        related = [c for c in placed if c.entry.topic == previous.topic or c.entry.id in previous.follow_ups]
        if placed and related and related[0].score >= FOLLOW_UP_SHARE * placed[0].score:
            best = replace(related[0], score=max(related[0].score, placed[0].score))
            return replace(ranking, candidates=[best], coverage=max(ranking.coverage, self.thresholds.coverage))
        if placed and placed[0].score >= self.thresholds.answer:
            return reading.ranking
        together = self.rank((*self.detector.scan(previous.question).rest, *reading.tokens))
        return together if together.candidates and together.candidates[0].entry.topic == previous.topic else reading.ranking

    def _safety(self, text: str) -> tuple[Alarm | None, Finding, Tongue | None]:
        """The safety net first: English signs and signs written in another language together
        (a Spanish "accidente de coche" must not stop at the English "accident"). The reply is in
        the message's language when it was told apart, else in English."""
        detected, tongue, foreign = self.languages.read(text)
        # English words in a message in another language are read as written: corrected towards
        # English, its own words become false friends.
        finding = self.detector.scan(text, spelling=detected is None)
        signs = (*finding.signs, *(s for s in foreign if s not in finding.signs))
        if not any(s.tier == "crisis" for s in signs):
            felt = self.crisis.find(self._sentences(finding.rest))
            signs += (felt,) if felt else ()
        if signs:
            ordered = tuple(sorted(signs, key=lambda s: TIERS.index(s.tier)))
            speak = detected or (tongue if not finding else None)
            return Alarm(self.urgent(replace(finding, signs=ordered), speak), ordered), finding, speak
        return None, finding, detected

    def _sentences(self, text: str | Sequence[str]) -> list[str]:
        """The sentences of a text (or of tokens already read), as the classifiers read them."""
        told = self.ranker.sentences_of(text) if isinstance(text, str) else self.ranker.sentences(text)
        return [sentence for sentence, _ in told]

    def rank(self, tokens: tuple[str, ...]) -> Ranking:
        """The entries for a message read by the detector, best first."""
        return self.ranker.rank(tokens, self.thresholds.blend, limit=CLARIFY_CHOICES + 2)

    def decide(self, ranking: Ranking) -> Reply:
        """Turn ranked candidates into an answer, a "did you mean", or a fallback.

        A message about back pain never gets the off-topic fallback: the nearest answer (with a
        line on what the guide does not cover) when one is near enough, else a warm "tell me more".
        """
        t = self.thresholds
        candidates = [c for c in ranking.candidates if c.entry is not OUT_OF_SCOPE]
        if not candidates:
            return self.fallback(0.0, "fallback_back_pain" if ranking.about_subject else "fallback")
        top = candidates[0]
        off_topic_first = ranking.candidates[0].entry is OUT_OF_SCOPE or (ranking.elsewhere and top.score < t.elsewhere)
        # Words the content does not know ("robaxin") only count against a message that is not
        # about back pain ("how to treat acne"), or against a weak match.
        known = ranking.coverage >= t.coverage or (ranking.about_subject and top.score >= t.answer)
        if off_topic_first or top.score < t.clarify or not known:
            if ranking.about_subject and top.score >= t.nearest:
                return self.entry_reply(top.entry, top.score, partial=True, yes_no=ranking.yes_no)
            return self.fallback(top.score, "fallback_back_pain" if ranking.about_subject else "fallback")
        rivals = [c for c in candidates[1:] if top.score - c.score < t.margin and c.entry.topic != top.entry.topic]
        close = [c for c in candidates if top.score - c.score < 2 * t.margin + max(0.0, t.answer - top.score)]
        choices = close[:CLARIFY_CHOICES]
        if (top.score >= t.answer and not rivals) or len(close) < 2 or ranking.story:
            partial = ranking.coverage < t.coverage
            also = tuple(c.entry for c in choices[1:]) if ranking.story else ()
            return self.entry_reply(top.entry, top.score, partial=partial, yes_no=ranking.yes_no, also=also)
        buttons = tuple(Button(c.entry.label, ENTRY + c.entry.id) for c in choices)
        return Reply(
            text=self.content.message("clarify"),
            kind="clarify",
            buttons=(*buttons, self.menu_button()),
            topic=top.entry.topic,
            id=top.entry.id,
            score=top.score,
        )

    # -- reply builders -------------------------------------------------------------------

    def entry_reply(
        self, entry: Entry, score: float = 100.0, partial: bool = False, yes_no: bool | None = None, also: tuple[Entry, ...] = ()
    ) -> Reply:
        """An entry's answer with its follow-up questions as buttons (after the entries `also`
        near the question); `partial` adds one honest line that the guide does not cover all of
        the question, and who can. The answer opens with its "Yes."/"It can." lead only for a
        yes/no question (by default, its own question)."""
        near = (*also, *(self.content.entries[f] for f in entry.follow_ups))
        follow = tuple(Button(e.label, ENTRY + e.id) for e in near)
        kind = "smalltalk" if entry.topic == "smalltalk" else "answer"
        extra_buttons = (self.menu_button(),) if kind == "answer" else self.main_buttons()
        text = entry.answer
        if yes_no is None:
            yes_no = self.content.language.yes_no(tokenize(entry.question, self.content.language))
        if entry.lead and yes_no:
            text = f"{entry.lead} {text}"
        if partial and entry.topic != "smalltalk":
            who = self.content.messages["partial_who"]
            text = f"{text.rstrip()}\n\n{self.content.message('partial_answer', who=who.get(entry.topic, who['default']))}"
        return Reply(
            text=self.fill(text),
            kind=kind,
            buttons=_distinct((*follow, *extra_buttons))[:MAX_BUTTONS],
            topic=entry.topic,
            id=entry.id,
            score=score,
        )

    def urgent(self, finding: Finding, tongue: Tongue | None = None) -> Reply:
        """The reply of every tier found, most urgent first, each naming what was noticed (in
        English; another language's reply names no sign, it has no words for our labels)."""
        tiers = [t for t in TIERS if any(s.tier == t for s in finding.signs)]
        replies = tongue.replies if tongue else self.content.tier_replies
        parts = []
        for tier in tiers:
            signs = "; ".join(s.label for s in finding.signs if s.tier == tier)
            parts.append(self.fill(replies[tier], signs=signs))
        return Reply(
            text="\n\n".join(p.strip() for p in parts),
            kind="urgent",
            urgency=tiers[0],
            id=finding.signs[0].id,
            score=100.0,
        )

    def fallback(self, score: float = 0.0, key: str = "fallback") -> Reply:
        """Not understood or out of scope: say what the bot can do and offer the topics."""
        return Reply(text=self.fill(self.content.message(key)), kind="fallback", buttons=self.main_buttons(), score=score)

    def main_buttons(self) -> tuple[Button, ...]:
        """The short menu under a welcome or a fallback: the most asked topics, /triage, all topics."""
        labels = self.content.messages["topic_labels"]
        topics = tuple(Button(labels[t], TOPIC + t) for t in self.content.messages["menu_topics"])
        return (*topics, self.triage_button(), Button(self.content.message("all_topics"), MENU))

    def topic_buttons(self, page: int = 1) -> tuple[Button, ...]:
        """Every topic, a page at a time so a phone shows them without scrolling; /triage first."""
        labels = list(self.content.messages["topic_labels"].items())
        pages = [labels[i : i + TOPICS_PER_PAGE] for i in range(0, len(labels), TOPICS_PER_PAGE)]
        page = min(max(page, 1), len(pages))
        buttons = [Button(label, TOPIC + topic) for topic, label in pages[page - 1]]
        if page == 1:
            buttons.insert(0, self.triage_button())
        if page < len(pages):
            buttons.append(Button(self.content.message("next_page"), f"{MENU}{page + 1}"))
        if page > 1:
            buttons.append(Button(self.content.message("previous_page"), f"{MENU}{page - 1}"))
        return tuple(buttons)

    def triage_button(self) -> Button:
        return Button(self.content.message("start_triage"), "/triage")

    def menu_button(self) -> Button:
        return Button(self.content.message("more_topics"), MENU)

    def topic_menu(self, topic: str) -> Reply:
        """The questions of one topic, as buttons."""
        label = self.content.messages["topic_labels"].get(topic, topic)
        buttons = tuple(Button(e.label, ENTRY + e.id) for e in self.content.by_topic(topic))
        return Reply(
            text=self.fill(self.content.message("topic_intro"), topic=html.escape(label, quote=False)),
            kind="answer",
            buttons=(*buttons[: MAX_BUTTONS - 1], self.menu_button()),
            topic=topic,
            score=100.0,
        )

    def fill(self, template: str, **values: str) -> str:
        """Fill the emergency numbers (from the environment or the defaults) into a text."""
        s = self.settings
        numbers = {
            "emergency_number": s.emergency_number or self.content.message("default_emergency_number"),
            "urgent_number": f" ({s.urgent_number})" if s.urgent_number else self.content.message("default_urgent_number"),
            "crisis_line": s.crisis_line or self.content.message("default_crisis_line"),
        }
        return template.format_map(_Defaults({**numbers, **values}))


def _distinct(buttons: tuple[Button, ...]) -> tuple[Button, ...]:
    """The buttons without repeats (the same target or the same label)."""
    seen: set[str] = set()
    kept = []
    for button in buttons:
        if button.data not in seen and button.label not in seen:
            kept.append(button)
            seen.update((button.data, button.label))
    return tuple(kept)


class _Defaults(dict):
    """Leaves unknown `{placeholders}` as they are instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _words(content: Content, texts: list[str]) -> set[str]:
    """The words of `texts`, with the language's own words and every warning-sign phrase: the
    vocabulary a misspelling is corrected towards, and (without the answers) the subject's."""
    lang = content.language
    words: set[str] = set(lang.words.values()) | set(lang.stopwords) | set(lang.denials)
    texts = texts + [p for s in content.signs for p in s.phrasings]
    texts += [t for s in content.signs for combo in s.combinations for group in combo for t in group]
    for text in texts:
        words.update(words_only(tokenize(text, lang)))
    return {w for w in words if w.isalpha()}
