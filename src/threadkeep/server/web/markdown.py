"""Message text as sanitized HTML: the only Markup on the page that holds content.

A message is rendered by markdown-it (CommonMark plus tables and strikethrough) with
raw HTML **off**, so ``<script>`` in a message is text, and the output is then cleaned
by nh3 (ammonia) with an explicit allowlist of tags and attributes. Either alone would
be enough today; both are here because each guards against the other's bugs: a parser
quirk that let markup through would still meet the sanitizer, and a sanitizer gap
would still only see the small set of tags the renderer emits.

* **Links** keep only ``http``, ``https`` and ``mailto`` (and scheme-less relative
  links and ``#anchors``). The check runs twice: in markdown-it's ``validateLink`` (a
  rejected link, autolink, reference or image stays visible as text) and in the
  sanitizer. Before the scheme is read, the URL is percent- and entity-decoded,
  NFKC-normalized and stripped of whitespace, control and format characters, as a
  browser would strip ``java\\tscript:``, so no spelling of ``javascript:``,
  ``vbscript:``, ``data:`` or ``file:`` reaches the page. Every link gets
  ``rel="noopener noreferrer nofollow"`` and opens in a new tab (``target="_blank"``),
  so a click never takes the person away from the conversation.
* **No images.** A remote image would tell its server that the message was read (and
  the page's CSP allows ``img-src 'self' data:`` only); a Markdown image becomes a
  plain link to its URL labelled with its alt text. ``<img>`` never appears.
* **Code blocks** (fenced and indented) get a header with the language and a copy
  button: ``<div class="code-block"><div class="code-head"><span class="code-lang">…
  </span><button type="button" class="copy-code">Copy</button></div><pre><code
  class="language-…">…</code></pre></div>``. ``div``, ``span``, ``button`` are not in
  the sanitizer's allowlist, so content can never produce them; the renderer marks
  each block with a per-call random marker, and the header is put around the already
  sanitized ``<pre>`` afterwards, only where a marker pair encloses it. The language
  label is limited to ``[A-Za-z0-9_+.#-]{1,32}``; ``class`` survives only on ``code``
  and only as ``language-…``. No ``id``, ``style``, ``data-*`` or ``hx-*`` attribute
  can come from content, so nothing the page's scripts or htmx act on.
* **Tables** keep their column alignment as ``align`` on ``th``/``td`` (limited to
  left, center, right) rather than a ``style`` attribute.

Search snippets (:func:`sanitize_snippet`) arrive as escaped text with ``<mark>``
around matched words (``threadkeep.search_query.snippet``); everything but the marks
is escaped again here, so a snippet built elsewhere cannot inject markup either.

The parser and the sanitizer are immutable configuration, built on first use and
kept; rendering is pure and safe to call from several threads.
"""

from __future__ import annotations

import functools
import html
import re
import secrets
import unicodedata
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup

from threadkeep.search_query import MARK_CLOSE, MARK_OPEN

__all__ = ["LINK_SCHEMES", "render_markdown", "sanitize_snippet"]

LINK_SCHEMES = frozenset({"http", "https", "mailto"})

_TAGS = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
        "strong", "em", "del", "s", "code", "pre", "blockquote",
        "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "a",
    }
)  # fmt: skip
_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "title"}),
    "code": frozenset({"class"}),
    "ol": frozenset({"start"}),
    "th": frozenset({"align"}),
    "td": frozenset({"align"}),
}
_ALIGNS = frozenset({"left", "center", "right"})
_LANG = re.compile(r"[A-Za-z0-9_+.#-]{1,32}")
_LANG_CLASS = re.compile(r"language-[A-Za-z0-9_+.#-]{1,32}")
# A scheme as RFC 3986 spells it, read before any path, query or fragment.
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):")
# Characters a browser drops from a URL (tab, newline) or that only hide a scheme:
# controls, format characters (zero-width joiners, bidi overrides) and separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_TEXT_ALIGN = re.compile(r"text-align:\s*(left|center|right)")
# Markers are private-use characters around a per-call nonce: content cannot guess the
# nonce, so only the renderer's own markers are turned into a code-block header.
_OPEN, _OPEN_END, _CLOSE, _CLOSE_END = "\ue000", "\ue001", "\ue002", "\ue003"
# The pair and the <pre> between in one pattern: a header is only ever added around a
# whole block, so the divs always balance. The code is escaped text, so the first
# "</pre>" closes it.
_BLOCK = re.compile(
    f"{_OPEN}([0-9a-f]{{16}}):([0-9]+){_OPEN_END}(<pre>.*?</pre>){_CLOSE}\\1:\\2{_CLOSE_END}",
    re.DOTALL,
)
_STRAY = re.compile(f"[{_OPEN}{_CLOSE}]([0-9a-f]{{16}}):[0-9]+[{_OPEN_END}{_CLOSE_END}]")


def _scheme_safe(url: str) -> bool:
    """Whether ``url`` is relative or uses an allowed scheme, however it is encoded.

    Every decoding stage is checked (``%256a`` is ``%6a`` is ``j``), so neither a
    browser nor anything that decodes the link once more sees a refused scheme.
    """
    candidate = url
    for _ in range(4):
        if not _plain_scheme_safe(candidate):
            return False
        step = html.unescape(unquote(candidate))
        if step == candidate:
            return True
        candidate = step
    return _plain_scheme_safe(candidate)


def _plain_scheme_safe(url: str) -> bool:
    decoded = unicodedata.normalize("NFKC", url)
    bare = "".join(c for c in decoded if unicodedata.category(c) not in _HIDDEN_CATEGORIES)
    # A URL led by a slash, backslash (a browser reads ``\\host`` as ``//host``), query,
    # fragment or dot has no scheme of its own.
    if bare.startswith(("/", "\\", "#", "?", ".")):
        return True
    match = _SCHEME.match(bare.lower())
    if match is None:
        # A colon before any ``/?#`` that cannot start a scheme (``1:``, ``:x``) is
        # refused too: relative paths do not need one.
        head = re.split(r"[/?#]", bare, maxsplit=1)[0]
        return ":" not in head
    return match.group(1) in LINK_SCHEMES


class _Markdown(MarkdownIt):
    """markdown-it with the link check above: a refused destination stays text."""

    def validateLink(self, url: str) -> bool:
        return _scheme_safe(url)


class _Renderer(RendererHTML):
    """HTML rules for code blocks (marked for their header), images (as links) and
    table cells (``align`` instead of ``style``)."""

    def fence(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        info = unescapeAll(token.info).strip() if token.info else ""
        first = info.split(maxsplit=1)[0] if info else ""
        lang = first if _LANG.fullmatch(first) else ""
        return _code_block(token.content, lang, env)

    def code_block(
        self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        return _code_block(tokens[idx].content, "", env)

    def image(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        alt = self.renderInlineAsText(token.children or [], options, env)
        src = str(token.attrGet("src") or "")
        # Inside a link's text an anchor cannot nest: the alt text alone.
        if _inside_link(tokens, idx, env) or not src:
            return escapeHtml(alt)
        title = token.attrGet("title")
        title_attr = f' title="{escapeHtml(str(title))}"' if title else ""
        return f'<a href="{escapeHtml(src)}"{title_attr}>{escapeHtml(alt or src)}</a>'

    def th_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return self._cell(tokens, idx, options, env)

    def td_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return self._cell(tokens, idx, options, env)

    def _cell(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        match = _TEXT_ALIGN.fullmatch(str(token.attrGet("style") or ""))
        token.attrs = {"align": match.group(1)} if match else {}
        return self.renderToken(tokens, idx, options, env)


def _inside_link(tokens: Sequence[Token], idx: int, env: EnvType) -> bool:
    # Computed once per inline token list (links do not nest in CommonMark), so a
    # paragraph of many images stays linear.
    cache: dict[int, frozenset[int]] = env["inside_link"]
    inside = cache.get(id(tokens))
    if inside is None:
        found: set[int] = set()
        open_link = False
        for i, token in enumerate(tokens):
            if token.type == "link_open":
                open_link = True
            elif token.type == "link_close":
                open_link = False
            elif open_link:
                found.add(i)
        inside = cache[id(tokens)] = frozenset(found)
    return idx in inside


def _code_block(content: str, lang: str, env: EnvType) -> str:
    langs: list[str] = env["code_langs"]
    nonce: str = env["nonce"]
    index = len(langs)
    langs.append(lang)
    code_class = f' class="language-{lang}"' if lang else ""
    return (
        f"{_OPEN}{nonce}:{index}{_OPEN_END}"
        f"<pre><code{code_class}>{escapeHtml(content)}</code></pre>"
        f"{_CLOSE}{nonce}:{index}{_CLOSE_END}\n"
    )


def _code_head(lang: str) -> str:
    label = escapeHtml(lang) if lang else "code"
    return (
        '<div class="code-block"><div class="code-head">'
        f'<span class="code-lang">{label}</span>'
        '<button type="button" class="copy-code">Copy</button></div>'
    )


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    """The sanitizer's check of every allowed attribute's value."""
    if attribute == "class":
        kept = [c for c in value.split() if _LANG_CLASS.fullmatch(c)]
        return kept[0] if kept else None
    if attribute == "align":
        return value if value in _ALIGNS else None
    if attribute == "start":
        return value if value.isascii() and value.isdigit() and len(value) <= 9 else None
    if attribute == "href":
        return value if _scheme_safe(value) else None
    return value


@functools.cache
def _parser(breaks: bool) -> MarkdownIt:
    return _Markdown(
        "commonmark",
        {"html": False, "linkify": False, "typographer": False, "breaks": breaks},
        renderer_cls=_Renderer,
    ).enable(["table", "strikethrough"])


@functools.cache
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        attribute_filter=_filter_attribute,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        # A link opens beside the conversation, never in its place.
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes=LINK_SCHEMES,
        url_relative="pass_through",
    )


def render_markdown(text: str, *, breaks: bool = False) -> Markup:
    """``text`` (a message's Markdown) as sanitized HTML, safe as element content.

    ``breaks``: a line break in the text is a line break on the page (what a person
    typing a message with Shift+Enter means); otherwise CommonMark's soft breaks.

    Only as element content: text keeps its quotes unescaped, so the result must never
    be placed inside an attribute value.
    """
    nonce = secrets.token_hex(8)
    env: dict[str, Any] = {"nonce": nonce, "code_langs": [], "inside_link": {}}
    cleaned = _cleaner().clean(_parser(breaks).render(text, env))
    langs: list[str] = env["code_langs"]

    def wrap(match: re.Match[str]) -> str:
        if match.group(1) != nonce or int(match.group(2)) >= len(langs):
            return match.group(0)  # content's own look-alike: left as the text it is
        return f"{_code_head(langs[int(match.group(2))])}{match.group(3)}</div>"

    def drop(match: re.Match[str]) -> str:
        return "" if match.group(1) == nonce else match.group(0)

    # A marker the sanitizer separated from its block (never seen) is dropped, not shown.
    return Markup(_STRAY.sub(drop, _BLOCK.sub(wrap, cleaned)))  # noqa: S704 (sanitized)


_MARKS = re.compile(f"({re.escape(MARK_OPEN)}|{re.escape(MARK_CLOSE)})")


def sanitize_snippet(snippet: str) -> Markup:
    """A search snippet (escaped text, matched words in ``<mark>``) with only its marks
    kept as markup and everything else escaped."""
    parts = []
    for part in _MARKS.split(snippet):
        if part in (MARK_OPEN, MARK_CLOSE):
            parts.append(part)
        else:
            # The text is escaped already: decode once and escape again, so a stray
            # "<" is escaped while "&lt;" still shows as "<", not "&lt;".
            parts.append(html.escape(html.unescape(part), quote=True))
    # The sanitizer balances the marks (a stray or unclosed one) and nothing else.
    balanced = nh3.clean("".join(parts), tags={"mark"}, attributes={})
    return Markup(balanced)  # noqa: S704 (only <mark> can remain)
