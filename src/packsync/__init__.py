"""packsync keeps an Attune workflow database true to the packs on disk."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("attune-packsync")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
