"""The runtime: `python -m bot` and everything it starts."""

import json
from importlib import metadata

DISTRIBUTION = "staff-harassment-bot"
SOURCE_VERSION = "0.2.0"
"""This checkout's version, kept equal to pyproject.toml's (tests/test_packaging.py checks)."""


def _version() -> str:
    """The installed wheel's version, so a log line or a bug report names the release; this
    checkout's own where it was never installed, or installed editable (whose metadata keeps
    the version of the day it was installed, while the code is whatever is checked out)."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return SOURCE_VERSION
    try:
        editable = json.loads(dist.read_text("direct_url.json") or "{}")["dir_info"]["editable"]
    except (ValueError, KeyError, TypeError):
        editable = False
    return SOURCE_VERSION if editable else dist.version


__version__ = _version()
