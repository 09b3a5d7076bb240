"""A process-wide progress hook: the CLI installs a rich reporter, tasks report stage progress to it."""
from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def stage(self, name: str, total: int | None = None) -> None: ...
    def advance(self, n: int = 1) -> None: ...
    def done(self, name: str, message: str) -> None: ...


class _Silent:
    def stage(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def done(self, name: str, message: str) -> None:
        pass


reporter: Reporter = _Silent()


def install(r: Reporter | None) -> None:
    """Install (or, with None, remove) the process-wide reporter."""
    global reporter
    reporter = r or _Silent()
