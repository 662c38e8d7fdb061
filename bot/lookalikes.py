"""Which letters of other scripts look like Latin ones, from Unicode's confusables table.

The table (`confusable-homoglyphs`) costs 16 MB of memory once imported; the bot needs two small
parts of it: the Latin twin of each look-alike letter ("е" of Cyrillic is "e"), and the script of
each character. Both are read from the library on the first start and kept in the cache folder,
like the English word list, so a running bot never imports it.
"""

from __future__ import annotations

from bisect import bisect_right
from functools import lru_cache
from importlib.metadata import version

from bot.cache import cached_lines


class Lookalikes:
    """The Latin twins of look-alike letters and the script of every character."""

    def __init__(self, twins: dict[str, str], ranges: list[tuple[int, int, str]]) -> None:
        self._twins = twins
        self._starts = [start for start, _, _ in ranges]
        self._ranges = ranges

    def script(self, char: str) -> str:
        """The script alias of a character ("LATIN", "CYRILLIC", "COMMON"), as the library says."""
        at = bisect_right(self._starts, ord(char)) - 1
        if at >= 0:
            start, end, alias = self._ranges[at]
            if start <= ord(char) <= end:
                return alias
        return "Unknown"

    def scripts(self, word: str) -> set[str]:
        return {self.script(c) for c in word}

    def twin(self, char: str) -> str | None:
        """The Latin letter a letter of another script looks like, if Unicode's table names one."""
        return self._twins.get(char)


@lru_cache(maxsize=1)
def lookalikes() -> Lookalikes:
    tag = version("confusable-homoglyphs")
    twins = dict(_split(line) for line in cached_lines(f"lookalikes-{tag}.txt", _twins))
    ranges = [(int(a), int(b), alias) for a, b, alias in (line.split("\t") for line in cached_lines(f"scripts-{tag}.txt", _ranges))]
    return Lookalikes(twins, ranges)


def _split(line: str) -> tuple[str, str]:
    code, twin = line.split("\t")
    return chr(int(code)), twin


def _twins() -> list[str]:
    """Every character the table says looks like a Latin one (and is not Latin itself), with the
    first ASCII letter among its look-alikes: what `is_confusable(…, preferred_aliases=["latin"])`
    reports, kept as code points."""
    from confusable_homoglyphs import categories, confusables

    found = []
    for char, homoglyphs in confusables.confusables_data.items():
        if len(char) != 1 or categories.alias(char) == "LATIN":
            continue
        if not any(categories.alias(g) == "LATIN" for h in homoglyphs for g in h["c"]):
            continue
        twin = next((h["c"] for h in homoglyphs if h["c"].isascii() and h["c"].isalpha()), None)
        if twin:
            found.append(f"{ord(char)}\t{twin}")
    return found


def _ranges() -> list[str]:
    """The table's code point ranges, each with its script alias."""
    from confusable_homoglyphs import categories

    data = categories.categories_data
    return [f"{start}\t{end}\t{data['iso_15924_aliases'][alias]}" for start, end, alias, _ in data["code_points_ranges"]]
