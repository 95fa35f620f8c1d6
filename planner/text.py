"""Text for a terminal: names from a user's graph are data, and a newline,
a tab or a bidirectional override inside one must show as an escape, not
move or reorder what is printed around it (DOT and Mermaid escape their own).

>>> printable("load\\nday\\t\\u202eevil")
'load\\\\nday\\\\t\\\\u202eevil'
"""

from __future__ import annotations

import unicodedata

# Bidirectional embedding, override and isolate controls, and the implicit marks.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str) -> str:
    """``text`` with control characters, line and paragraph separators and
    bidi controls written as Python escapes (``\\n``, ``\\t``, ``\\u202e``)."""
    if text.isprintable() and not BIDI_CONTROLS.intersection(text):
        return text
    return "".join(_escaped(char) for char in text)


def _escaped(char: str) -> str:
    if char in BIDI_CONTROLS or unicodedata.category(char) in ("Cc", "Zl", "Zp"):
        return char.encode("unicode_escape").decode("ascii")
    return char
