"""What the bot sends back: text, buttons and the labels outside checks read (CONTRACT.md §2)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

_TAGS = re.compile(r"</?(?:b|i|u|s|code|pre|a)(?:\s[^>]*)?>")


def plain(text: str) -> str:
    """Reply text as a person sees it: without the HTML that Telegram shows as bold."""
    return html.unescape(_TAGS.sub("", text))


@dataclass(frozen=True)
class Button:
    """A choice offered with a reply; `data` comes back when it is pressed (≤ 64 bytes). A button
    with a `url` opens that link instead (a private chat with the bot, from a group)."""

    label: str
    data: str
    url: str = ""

    def to_json(self) -> dict[str, str]:
        return {"label": self.label, "data": self.data} | ({"url": self.url} if self.url else {})


@dataclass(frozen=True)
class Reply:
    """One message of the bot, independent of the platform that shows it."""

    text: str
    kind: str
    buttons: tuple[Button, ...] = ()
    topic: str | None = None
    id: str | None = None
    score: float = 0.0
    urgency: str | None = None
    state: str | None = None

    def to_json(self, query: str | None = None) -> dict[str, Any]:
        """The contract's JSON object; `query` is included when given."""
        data: dict[str, Any] = {} if query is None else {"query": query}
        data.update(
            kind=self.kind,
            topic=self.topic,
            id=self.id,
            score=round(self.score, 1),
            urgency=self.urgency,
            text=plain(self.text),
            buttons=[b.to_json() for b in self.buttons],
            state=self.state,
        )
        return data
