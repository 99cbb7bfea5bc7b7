"""Foreign formats, one module each: a parser from the format to ``transfer.records``."""
