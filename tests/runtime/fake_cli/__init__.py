"""Fake ``claude`` and ``codex`` executables for the CLI providers' tests.

``claude.py`` and ``codex.py`` are programs (run as ``python -m
tests.runtime.fake_cli.claude``) that print what the real CLIs print, keep their sessions
in a directory on disk, and refuse an unknown session id as the real ones do;
``common.py`` is what both share (standard library only: a fake starts in a few tens of
milliseconds). ``harness.py`` is the test side: it installs a fake as an executable and
gives the fixtures. This package's ``__init__`` stays empty of imports, since every fake
run imports it.
"""
