"""Message Markdown as sanitized HTML (``threadkeep.server.web.markdown``).

Guards against the ways a chat page turns into an XSS hole: raw HTML in a message
rendered as markup, ``javascript:`` (or ``data:``, ``vbscript:``, ``file:``) links in
any Markdown form or encoding, images that load (or beacon) from content, attributes
the page's scripts or htmx act on (``on*``, ``hx-*``, ``data-*``, ``id``, ``class``,
``style``) arriving from content, and a fake copy button. Every payload of the XSS
corpus, and any text Hypothesis draws, must render to HTML that an independent
checker (stdlib ``html.parser``, not the sanitizer under test) finds inside the
allowlist.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markupsafe import Markup

from tests.web.xss_payloads import HIT_PATH, PAYLOADS
from threadkeep.search_query import parse, snippet
from threadkeep.server.web.markdown import render_markdown, sanitize_snippet

# What the rendered HTML may hold: tag -> attributes (and, for ``class``, which values).
CONTENT_ATTRIBUTES: dict[str, set[str]] = {
    **{t: set() for t in ("p", "br", "hr", "strong", "em", "del", "s", "pre", "blockquote")},
    **{f"h{n}": set() for n in range(1, 7)},
    **{t: set() for t in ("ul", "li", "table", "thead", "tbody", "tr")},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
    "a": {"href", "title", "rel", "target"},  # target is always _blank (a feature test)
    "code": {"class"},
    # The renderer's own code-block header, never content's.
    "div": {"class"},
    "span": {"class"},
    "button": {"type", "class"},
}
CLASSES = {
    "code": re.compile(r"language-[A-Za-z0-9_+.#-]{1,32}"),
    "div": re.compile(r"code-block|code-head"),
    "span": re.compile(r"code-lang"),
    "button": re.compile(r"copy-code"),
}
SAFE_SCHEMES = {"http", "https", "mailto"}


@dataclass
class Rendered:
    """What the checker collected from one rendering."""

    problems: list[str] = field(default_factory=list)
    tags: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)

    def count(self, tag: str, cls: str | None = None) -> int:
        return sum(1 for t, a in self.tags if t == tag and (cls is None or a.get("class") == cls))


def url_scheme(url: str) -> str | None:
    """The scheme a browser (or one more decoding) would read from ``url``, lowercased."""
    text = url
    for _ in range(5):
        text = html.unescape(unquote(text))
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if c.isprintable() and not c.isspace())
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", text)
    return match.group(1).lower() if match else None


class Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.result = Rendered()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.result.tags.append((tag, found))
        problems = self.result.problems
        if tag not in CONTENT_ATTRIBUTES:
            problems.append(f"tag <{tag}> is not allowed")
            return
        for name, value in attrs:
            if name not in CONTENT_ATTRIBUTES[tag]:
                problems.append(f"attribute {name!r} on <{tag}>")
            if name.startswith(("on", "hx-", "data-")) or name in ("id", "style", "src"):
                problems.append(f"forbidden attribute {name!r} on <{tag}>")
            if name == "class" and not CLASSES[tag].fullmatch(value or ""):
                problems.append(f"class {value!r} on <{tag}>")
            if name == "href" and url_scheme(value or "") not in (None, *SAFE_SCHEMES):
                problems.append(f"href {value!r}")
            if name == "align" and value not in ("left", "center", "right"):
                problems.append(f"align {value!r}")
            if name == "start" and not (value or "").isdigit():
                problems.append(f"start {value!r}")
        if tag == "a" and found.get("rel") != "noopener noreferrer nofollow":
            problems.append(f"link without rel: {found}")
        if tag == "button" and found != {"type": "button", "class": "copy-code"}:
            problems.append(f"button {found}")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_comment(self, data: str) -> None:
        self.result.problems.append(f"comment {data!r}")

    def handle_decl(self, decl: str) -> None:
        self.result.problems.append(f"declaration {decl!r}")

    def handle_pi(self, data: str) -> None:
        self.result.problems.append(f"processing instruction {data!r}")

    def unknown_decl(self, data: str) -> None:
        self.result.problems.append(f"unknown declaration {data!r}")


def check(text: str) -> tuple[str, Rendered]:
    """Render ``text`` and collect every way the output leaves the allowlist."""
    out = render_markdown(text)
    assert isinstance(out, Markup)
    checker = Checker()
    checker.feed(str(out))
    checker.close()
    rendered = checker.result
    blocks = code_blocks(text)
    # One header, one button per code block in the source: none from content.
    expected = {
        ("div", "code-block"): blocks,
        ("div", "code-head"): blocks,
        ("div", None): 2 * blocks,
        ("span", "code-lang"): blocks,
        ("span", None): blocks,
        ("button", "copy-code"): blocks,
        ("button", None): blocks,
    }
    for (tag, cls), want in expected.items():
        if rendered.count(tag, cls) != want:
            rendered.problems.append(f"{rendered.count(tag, cls)} <{tag} {cls}>, want {want}")
    # The markers never leak (they are private-use characters the renderer removes)
    # unless the text itself held them.
    if re.search("[\ue000-\ue003]", str(out)) and not re.search("[\ue000-\ue003]", text):
        rendered.problems.append("a code-block marker leaked")
    return str(out), rendered


# The same syntax as the renderer's (raw HTML off: an HTML block would end a paragraph
# differently), without its link check or render rules.
_REFERENCE = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def code_blocks(text: str) -> int:
    """Code blocks in ``text`` by a plain markdown-it parse (the block tokens are flat)."""
    return sum(1 for t in _REFERENCE.parse(text) if t.type in ("fence", "code_block"))


# -- the corpus ----------------------------------------------------------------------------


def test_corpus_is_large_and_distinct() -> None:
    assert len(PAYLOADS) >= 220
    assert len(set(PAYLOADS)) == len(PAYLOADS)
    assert not any("\x00" in p for p in PAYLOADS)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_renders_inside_the_allowlist(payload: str) -> None:
    out, rendered = check(payload)
    assert rendered.problems == [], out
    assert "<img" not in out.lower()
    # No element at all may point at the hit path but a link (a click, not a load).
    for tag, attrs in rendered.tags:
        for name, value in attrs.items():
            if HIT_PATH in (value or ""):
                assert (tag, name) == ("a", "href"), out


@pytest.mark.parametrize(
    "payload", [p for p in PAYLOADS if p.lstrip().startswith(("<script", "<img", "<svg"))]
)
def test_raw_html_payload_is_shown_as_text(payload: str) -> None:
    out, _ = check(payload)
    assert "&lt;" in out


# -- Markdown features ---------------------------------------------------------------------


def test_fenced_code_block_has_language_copy_button_and_escaped_code() -> None:
    out, rendered = check("```python\nprint('<b>&amp;')\n```")
    assert rendered.problems == []
    assert out == (
        '<div class="code-block"><div class="code-head"><span class="code-lang">python</span>'
        '<button type="button" class="copy-code">Copy</button></div>'
        "<pre><code class=\"language-python\">print('&lt;b&gt;&amp;amp;')\n</code></pre></div>\n"
    )


def test_indented_code_block_gets_a_header_without_language() -> None:
    out, rendered = check("para\n\n    x = 1 < 2\n")
    assert rendered.problems == []
    assert rendered.count("button", "copy-code") == 1
    assert '<span class="code-lang">code</span>' in out
    assert "<pre><code>x = 1 &lt; 2\n</code></pre>" in out


@pytest.mark.parametrize(
    ("info", "label", "cls"),
    [
        ("c++", "c++", ' class="language-c++"'),
        ("C# extra words", "C#", ' class="language-C#"'),
        ("objective-c", "objective-c", ' class="language-objective-c"'),
        ('"><b>', "code", ""),
        ("a" * 33, "code", ""),
        ("py{.x}", "code", ""),
    ],
)
def test_code_language_label_is_restricted(info: str, label: str, cls: str) -> None:
    out, rendered = check(f"```{info}\nx\n```")
    assert rendered.problems == []
    assert f'<span class="code-lang">{label}</span>' in out
    assert f"<pre><code{cls}>x\n</code></pre>" in out


def test_code_blocks_in_lists_and_quotes_each_get_one_button() -> None:
    text = "- a\n\n  ```js\n  x\n  ```\n- b\n\n> ```\n> y\n> ```\n\n```\nz\n```\n"
    out, rendered = check(text)
    assert rendered.problems == []
    assert code_blocks(text) == 3
    assert out.count('class="copy-code"') == 3


def test_code_span_shows_html_as_text() -> None:
    out, rendered = check("use `<img src=x onerror=alert(1)>` here")
    assert rendered.problems == []
    assert out == "<p>use <code>&lt;img src=x onerror=alert(1)&gt;</code> here</p>\n"


def test_table_keeps_alignment_without_style() -> None:
    out, rendered = check("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n")
    assert rendered.problems == []
    assert '<th align="left">a</th>' in out
    assert '<th align="center">b</th>' in out
    assert '<td align="right">3</td>' in out
    assert "style" not in out


def test_lists_headings_quotes_and_strikethrough() -> None:
    text = "# One\n\n### Three\n\n- a\n- b\n\n3. c\n4. d\n\n> quoted\n\n~~gone~~ **b** *i*\n\n---\n"
    out, rendered = check(text)
    assert rendered.problems == []
    assert "<h1>One</h1>" in out
    assert "<h3>Three</h3>" in out
    assert "<ul>\n<li>a</li>\n<li>b</li>\n</ul>" in out
    assert '<ol start="3">' in out
    assert "<blockquote>\n<p>quoted</p>\n</blockquote>" in out
    assert "<s>gone</s> <strong>b</strong> <em>i</em>" in out
    assert "<hr>" in out


@pytest.mark.parametrize(
    ("text", "href"),
    [
        ("[x](https://example.com/a?b=1&c=2)", "https://example.com/a?b=1&amp;c=2"),
        ("[x](http://example.com)", "http://example.com"),
        ("[x](mailto:me@example.com)", "mailto:me@example.com"),
        ("[x](/c/abc?message=1)", "/c/abc?message=1"),
        ("[x](#section)", "#section"),
        ("[x](relative/page.html)", "relative/page.html"),
        ("<https://example.com/auto>", "https://example.com/auto"),
        ("[x][r]\n\n[r]: https://example.com/ref", "https://example.com/ref"),
    ],
)
def test_safe_links_are_kept_with_rel(text: str, href: str) -> None:
    out, rendered = check(text)
    assert rendered.problems == []
    assert f'href="{href}"' in out
    assert 'rel="noopener noreferrer nofollow"' in out


def test_link_title_is_kept_and_escaped() -> None:
    out, rendered = check('[x](https://example.com "say \\"hi\\" <b>")')
    assert rendered.problems == []
    assert 'title="say &quot;hi&quot; &lt;b&gt;"' in out


@pytest.mark.parametrize(
    "text",
    [
        "[x](javascript:alert(1))",
        "[x](JAVASCRIPT:alert(1))",
        "[x](&#106;avascript:alert(1))",
        "[x](%6Aavascript:alert(1))",
        "[x](<java\tscript:alert(1)>)",
        "[x](java&#10;script:alert(1))",
        "[x](\u200bjavascript:alert(1))",
        "[x](\uff4a\uff41\uff56\uff41\uff53\uff43\uff52\uff49\uff50\uff54\uff1aalert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html,x)",
        "[x](data:image/png;base64,AAAA)",
        "[x](file:///etc/passwd)",
        "[x](tel:123)",
        "<javascript:alert(1)>",
        "[x][r]\n\n[r]: javascript:alert(1)",
        "![x](javascript:alert(1))",
    ],
)
def test_unsafe_links_stay_text(text: str) -> None:
    out, rendered = check(text)
    assert rendered.problems == []
    assert rendered.count("a") == 0, out


def test_image_becomes_a_link_never_an_img() -> None:
    out, rendered = check('![a cat](https://example.com/cat.png "Cat")')
    assert rendered.problems == []
    assert out == (
        '<p><a href="https://example.com/cat.png" title="Cat" target="_blank" '
        'rel="noopener noreferrer nofollow">a cat</a></p>\n'
    )


def test_image_without_alt_is_labelled_with_its_url() -> None:
    out, _ = check("![](https://example.com/x.png)")
    assert ">https://example.com/x.png</a>" in out


def test_image_inside_a_link_is_its_alt_text() -> None:
    out, rendered = check("[![badge *b*](https://example.com/b.svg)](https://example.com)")
    assert rendered.problems == []
    assert rendered.count("a") == 1
    assert (
        '<a href="https://example.com" target="_blank" rel="noopener noreferrer nofollow">'
        "badge b</a>"
    ) in out


def test_raw_html_is_text() -> None:
    out, rendered = check('<b onclick="x()">bold</b>\n\n<div hx-get="/x">block</div>')
    assert rendered.problems == []
    assert out == (
        '<p>&lt;b onclick="x()"&gt;bold&lt;/b&gt;</p>\n'
        '<p>&lt;div hx-get="/x"&gt;block&lt;/div&gt;</p>\n'
    )


def test_entities_are_decoded_once() -> None:
    out, _ = check("&lt;script&gt; &amp;lt;b&amp;gt; &copy;")
    assert out == "<p>&lt;script&gt; &amp;lt;b&amp;gt; ©</p>\n"


def test_template_syntax_is_plain_text() -> None:
    out, _ = check("{{ 7 * 7 }} {% raw %} ${ 7 * 7 } {# c #}")
    assert out == "<p>{{ 7 * 7 }} {% raw %} ${ 7 * 7 } {# c #}</p>\n"


def test_guessed_code_block_markers_stay_text() -> None:
    marker = "\ue000" + "0" * 16 + ":0\ue001<pre>x</pre>\ue002" + "0" * 16 + ":0\ue003"
    out, rendered = check(marker)
    assert rendered.problems == []
    assert rendered.count("button") == 0
    assert "&lt;pre&gt;" in out


def test_empty_and_whitespace_text() -> None:
    assert render_markdown("") == Markup("")
    assert render_markdown("  \n\n ") == Markup("")


def test_long_message_renders() -> None:
    text = "\n\n".join(
        f"Paragraph {i} with `code` and [a link](https://example.com/{i})." for i in range(2000)
    )
    text += "\n\n" + "".join(f"![i{i}](https://example.com/{i}.png)" for i in range(2000))
    _, rendered = check(text)
    assert rendered.problems == []
    assert rendered.count("a") == 4000


# -- the invariant for any text ------------------------------------------------------------

_MARKDOWNISH = st.sampled_from(
    [
        "<", ">", "&", "\"", "'", "`", "```", "~~~", "    ", "\n", "\n\n", "\t", "[", "]", "(",
        ")", "!", "*", "_", "~~", "#", "> ", "- ", "1. ", "|", "|---|", ":", "javascript:",
        "data:", "&#106;", "%6A", "<img src=x onerror=alert(1)>", "<script>", "on", "=",
        "hx-get", "data-x", "\ue000", "\ue001", "\ue002", "\ue003", "http://x", "mailto:",
        "\u200b", "\x01", "\\",
    ]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(_MARKDOWNISH, st.sampled_from(PAYLOADS), st.text(max_size=8)), max_size=40
    ).map("".join)
)
def test_any_text_renders_inside_the_allowlist(text: str) -> None:
    _, rendered = check(text)
    assert rendered.problems == []


# -- search snippets -----------------------------------------------------------------------


def test_snippet_keeps_marks_and_escapes_the_rest() -> None:
    out = sanitize_snippet("a <mark>word</mark> <script>alert(1)</script> <b>x</b>")
    assert isinstance(out, Markup)
    assert out == "a <mark>word</mark> &lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;x&lt;/b&gt;"


def test_snippet_does_not_escape_twice() -> None:
    assert sanitize_snippet("1 &lt; 2 &amp;&amp; <mark>x</mark>") == (
        "1 &lt; 2 &amp;&amp; <mark>x</mark>"
    )


@pytest.mark.parametrize(
    "text",
    [
        '<mark onclick="x">w</mark>',
        "<MARK>w</MARK>",
        "<mark>unclosed",
        "stray</mark> close",
        "<mark><mark>nested</mark></mark>",
    ],
)
def test_snippet_marks_are_exact_and_balanced(text: str) -> None:
    out = str(sanitize_snippet(text))
    assert out.count("<mark>") == out.count("</mark>")
    assert "<mark " not in out
    assert "onclick" not in out or "&lt;" in out
    checker = Checker()
    checker.feed(out)
    assert {tag for tag, _ in checker.result.tags} <= {"mark"}


@pytest.mark.parametrize("payload", PAYLOADS[:60])
def test_snippet_of_a_payload_has_only_marks(payload: str) -> None:
    out = str(sanitize_snippet(snippet(f"{payload} needle", parse("needle"))))
    checker = Checker()
    checker.feed(out)
    assert [tag for tag, _ in checker.result.tags] == ["mark"]


def test_links_open_in_a_new_tab_without_an_opener() -> None:
    out = str(render_markdown("[docs](https://example.com/docs)"))
    assert 'target="_blank"' in out
    assert 'rel="noopener noreferrer nofollow"' in out


def test_typed_line_breaks_are_kept_when_asked() -> None:
    assert "<br>" in str(render_markdown("first line\nsecond line", breaks=True))
    assert "<br>" not in str(render_markdown("first line\nsecond line"))
