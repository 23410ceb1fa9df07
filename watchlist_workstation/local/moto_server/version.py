"""The one moto version local mode's moto patches were written against, and the check each patch makes.

Every patch in this package replaces or extends moto internals (private methods, model classes, cached
listings) whose shape it was written against, so each refuses any other moto before touching it:
a moto upgrade must be checked against each patch, not discovered as a wrong answer in a local run.
"""

from __future__ import annotations

SUPPORTED_MOTO = "5.2.5"


class UnsupportedMotoVersion(RuntimeError):
    """The installed moto is not the version the local-mode patches were written against."""


def installed_moto_version() -> str:
    import moto

    return moto.__version__


def require_supported_moto(patch: str, internals: str) -> None:
    """Refuse to patch a moto other than SUPPORTED_MOTO; `patch` names the patch, `internals` what it changes."""
    version = installed_moto_version()
    if version != SUPPORTED_MOTO:
        raise UnsupportedMotoVersion(
            f"{patch} patches moto {SUPPORTED_MOTO}'s internals, but moto {version} is installed; "
            f"pin moto=={SUPPORTED_MOTO} or check the patch against moto {version}'s {internals} and update it"
        )
