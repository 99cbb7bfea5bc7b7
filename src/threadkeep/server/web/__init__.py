"""The web page (SPEC S10): server-rendered Jinja2 templates, htmx and a few small
plain JavaScript modules, served by ``threadkeep serve`` with no build step.

``pages.py`` serves the page and the HTML fragments htmx swaps in; ``login.py`` the
login page (when API keys are in use); ``security.py`` the headers every response
carries (a strict Content-Security-Policy: no inline script) and the CSRF check of
every state-changing request; ``markdown.py`` turns message text into sanitized HTML.
"""
