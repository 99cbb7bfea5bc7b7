"""Providers: what produces a reply (SPEC S4.3) — the protocol, the registry and the
built-in ones (``echo`` first; more register through the same hook)."""
