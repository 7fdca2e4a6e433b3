"""Charts (models)."""

__all__: list[str] = []
