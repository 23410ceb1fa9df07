"""Two lookups moto repeats for every request, done once instead (a patch of moto 5.2.5's request dispatch).

Both replace a moto function with a cached one of the same answers; the cache is sound because what it
lists (moto's package folder, its response classes) does not change while the server runs.
"""

from __future__ import annotations

import functools
from typing import Any

from watchlist_workstation.local.moto_server.version import require_supported_moto


def apply() -> None:
    """Cache both lookups in this process; calling it again does nothing."""
    require_supported_moto(
        "watchlist_workstation/local/moto_server/lookup_caches.py",
        "moto/backends.py (list_of_moto_modules) and moto/core/responses.py (method_names_from_class)",
    )
    cache_module_list()
    cache_method_names()


def _replace_once(module: Any, name: str, cached: Any) -> None:
    """Put `cached(module.name)` in place of `module.name`, unless that was done already."""
    current = getattr(module, name)
    if getattr(current, "cached", False):
        return
    replacement = cached(current)
    replacement.cached = True
    setattr(module, name, replacement)


def cache_module_list() -> None:
    """moto looks up the backend of every request by listing its own package folder on disk
    (moto.backends.list_of_moto_modules: a listdir and an isdir per entry, about 13% of the moto
    process's time in a local run); the folder does not change while it serves, so list it once."""
    from moto import backends

    def listed_once(list_modules: Any) -> Any:
        modules = tuple(list_modules())
        return lambda: modules

    _replace_once(backends, "list_of_moto_modules", listed_once)


def cache_method_names() -> None:
    """moto finds the method of every request's action by listing its response class's functions
    (moto.core.utils.method_names_from_class: `inspect.getmembers`, about 6% of an UpdateItem once
    ddb_patch.py is applied); the classes do not change while it serves, so list each once."""
    from moto.core import responses

    _replace_once(responses, "method_names_from_class", functools.cache)
