"""Reading code written for a newer Python than the one planner runs on.

``ast.parse`` only knows the grammar of the running interpreter. When it
fails, :func:`downgrade` rewrites the few constructs newer grammars added
into code the running interpreter parses, **keeping every line and every
byte column in place** (so findings point at the same spot):

- PEP 695 type parameters, ``def f[T](...)`` / ``class C[T: int = str]``:
  the brackets become blanks;
- PEP 695 ``type X[T] = value``: becomes ``X = value`` (an assignment);
- PEP 701 f-strings (nested quotes, backslashes or comments in a
  replacement field, fields over several lines) and PEP 750 t-strings that
  the running parser refuses: they become a blank string literal of the
  same size (what is inside them is not linted);
- PEP 758 ``except A, B:``: the names after the first become blanks.

Where a construct spans lines, the blank keeps them with ``\\``
continuations. Nothing is executed. Anything else stays a syntax error.

>>> import ast
>>> source = 'type Ids = list[int]\\ndef first[T](items: list[T]) -> T: return items[0]\\nx = f"{d["k"]}"\\n'
>>> print(downgrade(source))
Ids      = list[int]
def first   (items: list[T]) -> T: return items[0]
x = "         "
<BLANKLINE>
>>> isinstance(ast.parse(downgrade(source)), ast.Module)
True
"""

from __future__ import annotations

import ast
import re

_TOKEN = re.compile(r"""
    (?P<comment>\#[^\r\n]*)
  | (?P<string>(?<![\w])(?P<prefix>[rRbBuUfFtT]{0,2})(?P<quote>'''|\"\"\"|'|\"))
  | (?P<name>[^\W\d]\w*)
  | (?P<number>\d\w*)
  | (?P<open>[(\[{])
  | (?P<close>[)\]}])
  | (?P<newline>\r?\n)
  | (?P<continuation>\\\r?\n)
  | (?P<space>[ \t\f\r]+)
  | (?P<other>[^\s\w'"\#(\[{)\]}\\]+|\\)
""", re.VERBOSE)
_SPARSE = re.compile(r"""
    (?P<comment>\#[^\r\n]*)
  | (?P<string>(?<![\w])(?P<prefix>[rRbBuUfFtT]{0,2})(?P<quote>'''|\"\"\"|'|\"))
  | (?<![\w.])(?P<keyword>def|class|type|except)\b
""", re.VERBOSE)
_STRING_REST = {  # a plain string after its opening quote
    "'": re.compile(r"(?:[^'\\\n]|\\.)*'", re.DOTALL),
    '"': re.compile(r'(?:[^"\\\n]|\\.)*"', re.DOTALL),
    "'''": re.compile(r"(?:[^'\\]|\\.|'(?!''))*'''", re.DOTALL),
    '"""': re.compile(r'(?:[^"\\]|\\.|"(?!""))*"""', re.DOTALL),
}
# Cheap test before a scan: could the file hold a construct rewritten here?
_MAYBE_NEWER = re.compile(r"^[ \t]*type[ \t]+\w|\b(?:def|class)[ \t]+\w+[ \t]*\[|[fFtT][rR]?['\"]|[rR][fFtT]['\"]"
                          r"|^[ \t]*except\b[^:(\n]*,", re.MULTILINE)
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
_SPACE = re.compile(r"[ \t\f]*")


class _Unreadable(Exception):
    """The source is broken in a way no rewrite here can fix."""


def downgrade(source: str) -> str | None:
    """``source`` with newer-grammar constructs rewritten in place, or None
    when there is nothing this module knows how to rewrite."""
    if not _MAYBE_NEWER.search(source):
        return None  # a plain syntax error: not worth a scan
    try:
        edits = _Scanner(source).edits()
    except (_Unreadable, IndexError, ValueError):
        return None
    if not edits:
        return None
    parts, last = [], 0
    for start, end, replacement in sorted(edits):
        if start < last:  # nested in an edit already made
            continue
        parts += [source[last:start], replacement]
        last = end
    parts.append(source[last:])
    return "".join(parts)


def blank(text: str, head: str = "", tail: str = "") -> str:
    """``text`` as spaces of the same UTF-8 size per line, starting with
    ``head`` and ending with ``tail``; line breaks are kept, each preceded
    by a ``\\`` continuation so the statement goes on.

    >>> blank('f"{x}"', '"', '"')
    '"    "'
    >>> blank('[\\n  T\\n]')
    '\\\\\\n  \\\\\\n '
    """
    lines = text.split("\n")
    sizes = [len(line.encode()) for line in lines]
    head_size, tail_size = len(head.encode()), len(tail.encode())
    if len(lines) == 1:
        return head + " " * (sizes[0] - head_size - tail_size) + tail
    out = [head + " " * (sizes[0] - head_size - 1) + "\\"]
    out += [" " * (size - 1) + "\\" if size else "\\" for size in sizes[1:-1]]
    out.append(" " * (sizes[-1] - tail_size) + tail)
    return "\n".join(out)


class _Scanner:
    """One pass over the source with a small tokenizer that knows PEP 701
    f-strings, collecting ``(start, end, replacement)`` edits."""

    def __init__(self, source: str):
        self.source = source
        self.found: list[tuple[int, int, str]] = []
        self.newer = False  # the string being scanned needs PEP 701

    def edits(self) -> list[tuple[int, int, str]]:
        """Only comments, strings and the keywords that start the rewritten
        constructs are looked at; the regex skips everything else."""
        source, position, search = self.source, 0, _SPARSE.search
        while True:
            match = search(source, position)
            if match is None:
                return self.found
            position = match.end()
            if match.group("string") is not None:
                self.newer = False
                end = self.string_end(match.end("prefix"), match.group("prefix"), match.group("quote"))
                if self.newer:
                    text = source[match.start():end]
                    edge = '""' if "\n" in text else '"'
                    self.found.append((match.start(), end, blank(text, edge, edge)))
                position = end
                continue
            word = match.group("keyword")
            if word in ("def", "class"):
                self.type_parameters_after(position)
            elif word and self.at_statement_start(match.start()):
                if word == "type":
                    self.type_alias(match.start(), position)
                else:
                    self.except_names(position)

    def at_statement_start(self, index: int) -> bool:
        """Only blanks before ``index`` on its line, or a ``;`` / ``:``."""
        before = self.source[self.source.rfind("\n", 0, index) + 1:index].rstrip()
        return not before or before.endswith((";", ":"))

    # strings -------------------------------------------------------------------------------------------------

    def string_end(self, position: int, prefix: str, quote: str) -> int:
        """Index just after the string whose opening quote is at ``position``."""
        lowered = prefix.lower()
        if "f" in lowered or "t" in lowered:
            return self.fstring_end(position + len(quote), quote, "r" in lowered)
        match = _STRING_REST[quote].match(self.source, position + len(quote))
        if match is None:
            raise _Unreadable(position)
        return match.end()

    def fstring_end(self, index: int, quote: str, raw: bool) -> int:
        source = self.source
        while True:
            if source.startswith(quote, index):
                return index + len(quote)
            char = source[index]
            if char == "\\":
                if not raw and source.startswith("N{", index + 1):
                    index = source.index("}", index) + 1
                else:
                    index += 2
            elif char == "{":
                index = index + 2 if source.startswith("{", index + 1) else self.field_end(index + 1, quote)
            elif char == "}":
                index += 2 if source.startswith("}", index + 1) else 1
            elif char == "\n" and len(quote) == 1:
                raise _Unreadable(index)
            else:
                index += 1

    def field_end(self, index: int, quote: str) -> int:
        """Index after the ``}`` closing a replacement field whose expression
        starts at ``index``. Notes in ``self.newer`` what only PEP 701
        allows there: the enclosing quote, a backslash, a comment, or a
        line break in a one-line string."""
        source, depth = self.source, 0
        while True:
            match = _TOKEN.match(source, index)
            if match is None:
                raise _Unreadable(index)
            if match.group("string") is not None:
                inner = match.group("quote")
                if inner[0] == quote[0] and (len(quote) == 1 or len(inner) == 3):
                    self.newer = True
                end = self.string_end(match.end("prefix"), match.group("prefix"), inner)
                if "\\" in source[match.start():end]:
                    self.newer = True
                index = end
                continue
            kind, text = match.lastgroup, match.group()
            if kind in ("comment", "continuation") or (kind == "other" and "\\" in text):
                self.newer = True
            elif kind == "newline" and len(quote) == 1:
                self.newer = True
            elif kind == "open":
                depth += 1
            elif kind == "close":
                if depth == 0:
                    if text != "}":
                        raise _Unreadable(index)
                    return match.end()
                depth -= 1
            elif kind == "other" and depth == 0:
                for offset, char in enumerate(text):
                    if char == "!" and not text.startswith("=", offset + 1):
                        return self.field_end(match.start() + offset + 1, quote)  # conversion: up to ':' or '}'
                    if char == ":":
                        return self.spec_end(match.start() + offset + 1, quote)
            index = match.end()

    def spec_end(self, index: int, quote: str) -> int:
        """Index after the ``}`` ending a format spec (which may nest fields)."""
        source = self.source
        while True:
            char = source[index]
            if char == "{":
                index = self.field_end(index + 1, quote)
            elif char == "}":
                return index + 1
            elif char == "\\":
                index += 2
            else:
                index += 1

    # PEP 695 / 758 -------------------------------------------------------------------------------------------

    def skip_space(self, index: int) -> int:
        return _SPACE.match(self.source, index).end()

    def type_parameters_after(self, index: int) -> bool:
        """``def NAME[...]`` / ``class NAME[...]``: blank the brackets."""
        index = self.skip_space(index)
        name = _IDENTIFIER.match(self.source, index)
        if not name:
            return False
        index = self.skip_space(name.end())
        if not self.source.startswith("[", index):
            return False
        end = self.bracket_end(index)
        self.found.append((index, end, blank(self.source[index:end])))
        return True

    def bracket_end(self, index: int) -> int:
        """Index after the bracket that closes the one at ``index``."""
        source, depth = self.source, 0
        while True:
            match = _TOKEN.match(source, index)
            if match is None:
                raise _Unreadable(index)
            if match.group("string") is not None:
                index = self.string_end(match.end("prefix"), match.group("prefix"), match.group("quote"))
                continue
            if match.lastgroup == "open":
                depth += 1
            elif match.lastgroup == "close":
                depth -= 1
                if depth == 0:
                    return match.end()
            index = match.end()

    def type_alias(self, start: int, index: int) -> None:
        """``type NAME[...] = value`` -> ``NAME = value``, same columns."""
        index = self.skip_space(index)
        if index == start + 4:
            return  # `type(`, `type.`, ...: the builtin, not the statement
        name = _IDENTIFIER.match(self.source, index)
        if not name:
            return
        index = self.skip_space(name.end())
        if self.source.startswith("[", index):
            index = self.skip_space(self.bracket_end(index))
        if not self.source.startswith("=", index) or self.source.startswith("==", index):
            return
        self.found.append((start, index, blank(self.source[start:index], name.group())))

    def except_names(self, index: int) -> None:
        """PEP 758 ``except A, B:`` -> ``except A   :``."""
        source, depth, comma = self.source, 0, None
        while True:
            match = _TOKEN.match(source, index)
            if match is None or match.lastgroup in ("newline", "comment"):
                return
            if match.group("string") is not None:
                return
            text = match.group()
            if match.lastgroup == "open":
                depth += 1
            elif match.lastgroup == "close":
                depth -= 1
            elif match.lastgroup == "name" and text == "as" and depth == 0:
                return
            elif match.lastgroup == "other" and depth == 0:
                for offset, char in enumerate(text):
                    if char == "," and comma is None:
                        comma = match.start() + offset
                    elif char == ":":
                        if comma is not None:
                            end = match.start() + offset
                            self.found.append((comma, end, blank(source[comma:end])))
                        return
            index = match.end()


def parse_source(text: str, filename: str) -> ast.Module:
    """The module's tree, also for code written for a newer Python than the
    running one (see :mod:`planner.lint.modern`). Raises the running
    parser's SyntaxError when the code is broken."""
    try:
        return ast.parse(text, filename)
    except SyntaxError as error:
        newer = downgrade(text)
        if newer is None:
            raise
        try:
            return ast.parse(newer, filename)
        except SyntaxError:
            raise error from None
