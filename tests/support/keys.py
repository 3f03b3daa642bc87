"""Authorization headers of the API keys a test makes, one per role, by name."""

from __future__ import annotations


class Keys:
    """Authorization headers of one key per role (plus a second analyst), made in the test's
    transaction."""

    def __init__(self, headers: dict[str, dict[str, str]], ids: dict[str, int]) -> None:
        self.headers = headers
        self.ids = ids

    def __getattr__(self, name: str) -> dict[str, str]:
        try:
            return self.headers[name]
        except KeyError:
            raise AttributeError(name) from None
