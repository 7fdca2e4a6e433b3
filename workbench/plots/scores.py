"""Charts (scores)."""

__all__: list[str] = []
