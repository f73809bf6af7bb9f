"""Known log layouts: how many header fields precede the message, and what the header tells us.

The header rule is deliberately crude: a format's header is a fixed number of fields separated by
runs of ASCII whitespace (space, tab, CR, LF, VT, FF: C's ``isspace`` in the "C" locale) and the
content is the rest of the line with surrounding whitespace removed. The C engine implements the
very same rule, so both sides always cut a line at the same place.

Header extraction (timestamps, labels, sessions) is a Python-side convenience for building model
inputs; the engine never needs it.

Timestamps are seconds since the Unix epoch, UTC:

- hdfs: ``yyMMdd HHmmss`` from fields 0-1.
- bgl: field 1, already Unix seconds.
- openssh: ``Mon dd HH:MM:SS`` carries no year. We assume the year 2000 and, when a timestamp
  falls more than half a year before the previous one (a December -> January wrap), move it and
  every later line one year on, so the series stays monotone for time bucketing.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from converter.errors import AlogError

HEADER_FIELDS = {"hdfs": 5, "bgl": 9, "openssh": 5, "raw": 0}
FORMATS = tuple(HEADER_FIELDS)
KNOWN_FORMATS = ("hdfs", "bgl", "openssh")  # the ones detect_format can recognise

ASCII_WS = " \t\n\r\v\f"
_WS_RUN = re.compile(r"[ \t\n\r\v\f]+")
_BLOCK_ID = re.compile(r"blk_-?\d+")
OPENSSH_BASE_YEAR = 2000
_HALF_YEAR = 183 * 86400
_MONTHS = {name: i for i, name in enumerate(calendar.month_abbr) if name}

# One regex per known format, used to recognise its lines (detection, "is this really a bgl log?").
HEADER_PATTERNS = {
    "hdfs": re.compile(r"^\d{6}\s+\d{6}\s+\d+\s+[A-Z]+\s+\S+:(\s|$)"),
    # label, epoch, date, node, then time, node, kind, part and level
    "bgl": re.compile(r"^\S+\s+\d+\s+\d{4}\.\d{2}\.\d{2}\s+\S+\s+"
                      r"\d{4}-\d{2}-\d{2}-\d{2}\.\d{2}\.\d{2}\.\d+\s+\S+\s+\S+\s+\S+\s+\S+"),
    "openssh": re.compile(r"^[A-Z][a-z]{2}\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}\s+\S+\s+[\w.\-/]+(\[\d+\])?:(\s|$)"),
}
DETECT_SAMPLE = 50


def ascii_tokens(text: str) -> list[str]:
    """Split on runs of ASCII whitespace only (str.split() would also cut at \\x1c or \\xa0)."""
    return [t for t in _WS_RUN.split(text) if t]


def normalise_ws(text: str) -> str:
    """Collapse ASCII whitespace runs to one space and trim: the form templates are written in."""
    return " ".join(ascii_tokens(text))


def split_fields(line: str, header_fields: int) -> tuple[list[str], str] | None:
    """(header fields, content) or None when the line has fewer than ``header_fields`` fields."""
    fields: list[str] = []
    rest = line.strip(ASCII_WS)
    for _ in range(header_fields):
        if not rest:
            return None
        m = _WS_RUN.search(rest)
        if m is None:
            fields.append(rest)
            rest = ""
        else:
            fields.append(rest[: m.start()])
            rest = rest[m.end():]
    return fields, rest.strip(ASCII_WS)


def split_content(line: str, header_fields: int) -> str | None:
    """The message part of ``line`` after ``header_fields`` leading fields, or None if too short."""
    split = split_fields(line, header_fields)
    return None if split is None else split[1]


def header_fields_of(fmt: str) -> int:
    try:
        return HEADER_FIELDS[fmt]
    except KeyError:
        raise AlogError(f"unknown log format {fmt!r}: choose one of {', '.join(FORMATS)}") from None


def _hdfs_time(fields: list[str]) -> float | None:
    d, t = fields[0], fields[1]
    if not (len(d) == 6 and len(t) == 6 and d.isdigit() and t.isdigit()):
        return None
    try:
        return float(calendar.timegm((2000 + int(d[:2]), int(d[2:4]), int(d[4:]), int(t[:2]), int(t[2:4]), int(t[4:]))))
    except (ValueError, OverflowError):
        return None


def _bgl_time(fields: list[str]) -> float | None:
    return float(fields[1]) if fields[1].isdigit() else None


def _openssh_time(fields: list[str]) -> float | None:
    month = _MONTHS.get(fields[0])
    clock = fields[2].split(":")
    if month is None or not fields[1].isdigit() or len(clock) != 3 or not all(c.isdigit() for c in clock):
        return None
    h, m, s = (int(c) for c in clock)
    if not (1 <= int(fields[1]) <= 31 and h < 24 and m < 60 and s < 61):
        return None
    return float(calendar.timegm((OPENSSH_BASE_YEAR, month, int(fields[1]), h, m, s)))


_TIMESTAMPS: dict[str, Callable[[list[str]], float | None]] = {
    "hdfs": _hdfs_time,
    "bgl": _bgl_time,
    "openssh": _openssh_time,
}


@dataclass(frozen=True)
class Header:
    """What one line's header tells us; None where the format does not carry it."""

    content: str
    timestamp: float | None = None
    label: int | None = None
    session: str | None = None


def read_header(line: str, fmt: str) -> Header | None:
    """Split ``line`` per ``fmt``; None when the line is too short to hold the header."""
    split = split_fields(line, header_fields_of(fmt))
    if split is None:
        return None
    fields, content = split
    stamp = _TIMESTAMPS.get(fmt)
    timestamp = stamp(fields) if stamp else None
    label = (0 if fields[0] == "-" else 1) if fmt == "bgl" else None
    session = None
    if fmt == "hdfs":
        m = _BLOCK_ID.search(content)
        session = m.group(0) if m else None
    return Header(content, timestamp, label, session)


def monotone_years(timestamps: Iterable[float | None]) -> list[float | None]:
    """Undo year wraps in year-less timestamps: a jump back of over half a year starts a new year."""
    out: list[float | None] = []
    years, prev = 0, None
    for ts in timestamps:
        if ts is None:
            out.append(None)
            continue
        shifted = _add_years(ts, years)
        if prev is not None and shifted < prev - _HALF_YEAR:
            years += 1
            shifted = _add_years(ts, years)
        prev = shifted
        out.append(shifted)
    return out


def _add_years(ts: float, years: int) -> float:
    if years == 0:
        return ts
    t = time.gmtime(ts)
    # timegm normalises out-of-range dates (29 Feb in a common year becomes 1 Mar).
    return float(calendar.timegm((t.tm_year + years, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)))


YEARLESS_FORMATS = frozenset({"openssh"})


def detect_format(lines: Iterable[str]) -> str:
    """Guess hdfs / bgl / openssh from the first non-empty lines; refuse when nothing fits well."""
    sample = []
    for line in lines:
        if line.strip(ASCII_WS):
            sample.append(line)
            if len(sample) >= DETECT_SAMPLE:
                break
    if sample:
        scores = {fmt: sum(1 for line in sample if HEADER_PATTERNS[fmt].match(line)) for fmt in KNOWN_FORMATS}
        best = max(scores, key=lambda fmt: scores[fmt])
        # Most lines must fit: one stray match in a foreign log is not a format.
        if scores[best] * 2 > len(sample):
            return best
    raise AlogError("log format not recognised (expected hdfs, bgl or openssh); pass --format raw to use whole lines")


def read_log_text(path) -> str:
    """A raw log file's text: UTF-8 with replacement characters, so binary garbage never crashes."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AlogError(f"log file not found: {path}") from None
    except OSError as exc:
        raise AlogError(f"cannot read log file {path}: {exc.strerror or exc}") from None
    return data.decode("utf-8", errors="replace")
