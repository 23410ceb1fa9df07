"""What a patch of moto replaced, so that it applies once per process and can be put back (tests compare patched and
shipped moto in one process)."""

from __future__ import annotations

import threading
from typing import Any


class Swaps:
    """Attributes of moto's modules and classes a patch replaced, with what was there before."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held by the patch's apply() while it replaces
        self._saved: list[tuple[Any, str, Any]] = []

    @property
    def applied(self) -> bool:
        return bool(self._saved)

    def replace(self, owner: Any, name: str, value: Any) -> None:
        """Put `value` in place of `owner.name` (a class's own attribute as defined: a classmethod stays one)."""
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        self._saved.append((owner, name, original))
        setattr(owner, name, value)

    def restore(self) -> None:
        """Put back everything replaced, last first; nothing when nothing was."""
        with self.lock:
            while self._saved:
                owner, name, original = self._saved.pop()
                setattr(owner, name, original)
