"""Text made safe for markdown: the report's summary.md and a repro bundle's ISSUE.md escape the same way."""

from __future__ import annotations

import re
from typing import Any

CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # NUL, ESC and friends: shown, never passed on
_MD_SPECIAL = re.compile(r"[|`\[\]#*_~\\]")  # table, code, link, heading, emphasis, strike; and the escape


def md(text: Any, limit: int = 240) -> str:
    """Make any text safe inside a markdown table cell or list item: no HTML, no pipes, no control
    characters, no heading, list or code-fence marker, one line."""
    text = " ".join(CONTROL.sub("\ufffd", str(text)).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)
