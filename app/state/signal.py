"""A tiny, Qt-free observer mechanism for the state models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Signal:
    """A list of callbacks that ``emit`` calls in connection order.

    Deliberately minimal: no threads, no weak references. Views disconnect what they connect
    when they are closed, so models never keep dead widgets alive.
    """

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        """Call ``callback(*args)`` on every future ``emit(*args)``."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        """Stop calling ``callback``; silently ignores unknown callbacks."""
        try:
            self._callbacks.remove(callback)
        except ValueError:
            pass

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)

    def __len__(self) -> int:
        return len(self._callbacks)


class Request:
    """A question one observer answers: ``handle(fn)`` sets the answerer, calling the request asks it.

    Features ask through the scene (e.g. "may unsaved corrections be dropped?") without knowing
    which feature answers; with nobody answering, the call returns ``default``.
    """

    def __init__(self, default: Any = None) -> None:
        self._default = default
        self._handler: Callable[..., Any] | None = None

    def handle(self, handler: Callable[..., Any] | None) -> None:
        """Make ``handler`` the one that answers (None: nobody does)."""
        self._handler = handler

    def __call__(self, *args: Any) -> Any:
        return self._default if self._handler is None else self._handler(*args)
