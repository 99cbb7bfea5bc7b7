"""threadkeep's own plugins: what it provides through its hooks, like any plugin would."""
