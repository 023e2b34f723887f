"""Name -> factory registries: configs name components, code resolves them here.

Configs are data; a config string never executes code, it only selects a factory
that was registered by name with :meth:`Registry.register`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

__all__ = ["Registry", "ENCODERS", "HEADS", "LOSSES"]


class Registry(Generic[T]):
    """A small name -> factory mapping with a helpful error for unknown names.

    Args:
        kind: What the registry holds (used in error messages), e.g. ``"encoder"``.

    Example:
        >>> ENCODERS = Registry("encoder")
        >>> @ENCODERS.register("tiny")
        ... def tiny(**kw): ...
        >>> ENCODERS.get("tiny")  # the factory
    """

    def __init__(self, kind: str) -> None:
        if not kind:
            raise ValueError("Registry kind must be a non-empty string.")
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory`` under ``name``.

        Args:
            name: Unique name (non-empty string).

        Returns:
            A decorator that stores the factory and returns it unchanged.

        Raises:
            ValueError: If ``name`` is empty or already registered.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}.")

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is already registered.")
            self._factories[name] = factory
            return factory

        return decorator

    def get(self, name: str) -> Callable[..., T]:
        """Return the factory registered under ``name``.

        Raises:
            KeyError: If ``name`` is unknown; the message lists the valid names.
        """
        try:
            return self._factories[name]
        except KeyError:
            valid = ", ".join(sorted(self._factories)) or "(none registered)"
            raise KeyError(f"Unknown {self.kind} {name!r}. Valid names: {valid}.") from None

    def build(self, name: str, **kwargs: Any) -> T:
        """Call the factory registered under ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        """Sorted list of registered names."""
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._factories)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"


ENCODERS: Registry[Any] = Registry("encoder")
HEADS: Registry[Any] = Registry("head")
LOSSES: Registry[Any] = Registry("loss")
