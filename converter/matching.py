"""Reference template matcher: the semantics the C engine must reproduce exactly.

1. Normalise whitespace in both template and content: split on runs of ASCII whitespace
   (space, \\t, \\n, \\r, \\v, \\f), drop empty pieces, join with one space.
2. A template matches a content iff the whole normalised content matches the normalised template,
   where each ``<*>`` matches one or more characters of any kind (it may span spaces and tokens)
   and every other character matches itself literally. ``<*>`` is the only wildcard.
3. When several templates match, the winner has the most literal characters (the length of the
   normalised template minus 3 per ``<*>``; spaces count); ties go to the lowest index.
4. No template matches -> None.

How a match is decided does not change the answer, only the speed. We split a template at its
wildcards into literal segments L0 <*> L1 ... <*> Lk; the content must start with L0 and end with
Lk, and each middle segment is taken at its leftmost occurrence that leaves at least one character
for the wildcard before it and after it. Leftmost choices leave the most room for what follows, so
this finds a match whenever one exists, in linear time, without regex backtracking.
"""

from __future__ import annotations

from collections.abc import Mapping

from converter.errors import AlogError
from converter.logformats import normalise_ws, split_content

WILDCARD = "<*>"

content_of = split_content  # content_of(line, header_fields) -> str | None, the engine's header cut


def segments_match(segments: list[str], text: str) -> bool:
    """Does ``text`` (normalised) match the template whose literal segments are ``segments``?"""
    if len(segments) == 1:
        return text == segments[0]
    first, last = segments[0], segments[-1]
    end = len(text) - len(last)  # where the last segment must start
    if not (text.startswith(first) and text.endswith(last)):
        return False
    pos = len(first)
    for seg in segments[1:-1]:
        # >= 1 character for the wildcard before (pos + 1) and after (end - 1) this segment.
        found = text.find(seg, pos + 1, end - 1)
        if found < 0:
            return False
        pos = found + len(seg)
    return end - pos >= 1


def template_matches(template: str, content: str) -> bool:
    """One template against one content, per the module's rules."""
    return segments_match(normalise_ws(template).split(WILDCARD), normalise_ws(content))


class TemplateMatcher:
    """Match contents against an engine vocab ``{index: template}``; returns the winning index."""

    def __init__(self, engine_vocab: Mapping[int, str]):
        if not engine_vocab:
            raise AlogError("cannot match against an empty vocab")
        compiled = []
        for index, template in engine_vocab.items():
            if isinstance(index, bool) or not isinstance(index, int) or index < 0 or not isinstance(template, str):
                raise AlogError(f"matcher needs {{index: template}} with integer indices; entry {index!r} is not")
            normal = normalise_ws(template)
            segments = normal.split(WILDCARD)
            literal = len(normal) - len(WILDCARD) * (len(segments) - 1)
            # Shortest content that could match: every literal plus one character per wildcard.
            compiled.append((-literal, index, literal + len(segments) - 1, segments))
        # Most specific first, then lowest index: the first match is the winner.
        compiled.sort(key=lambda c: (c[0], c[1]))
        self._compiled = [(index, min_len, segments) for _, index, min_len, segments in compiled]

    def __len__(self) -> int:
        return len(self._compiled)

    def match(self, content: str) -> int | None:
        text = normalise_ws(content)
        size = len(text)
        for index, min_len, segments in self._compiled:
            if size >= min_len and segments_match(segments, text):
                return index
        return None

    def match_line(self, line: str, header_fields: int) -> int | None:
        """Cut the header as the engine does, then match; None for lines too short for a header."""
        content = content_of(line, header_fields)
        return None if content is None else self.match(content)
