"""Share links: read-only, redacted snapshots of a conversation (being built)."""
