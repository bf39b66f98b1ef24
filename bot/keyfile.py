"""The key that seals reference numbers at rest: `TOKEN_ENCRYPTION_KEY` when set (the same
Fernet keys as Slack's stored tokens, so rotation is the same too), else a key of this
deployment's own kept in `BOT_DATA_DIR` (made once, readable by this account only), which is
right for the embedded quick start and for one host; several hosts must share one key, so
they set `TOKEN_ENCRYPTION_KEY`.
"""

from __future__ import annotations

import logging
import os

from cryptography.fernet import Fernet

from .config import ConfigError, Settings

KEY_FILE = "reference.key"

log = logging.getLogger("bot")


def sealing_keys(settings: Settings) -> tuple[str, ...]:
    """The keys to seal with (the first) and to open with (all); ConfigError in one line."""
    if settings.encryption_keys:
        return settings.encryption_keys
    folder = settings.data_dir
    path = folder / KEY_FILE
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made before, or by another worker just now
            key = path.read_text().strip()
        else:
            key = Fernet.generate_key().decode()
            with os.fdopen(fd, "w") as fh:
                fh.write(key + "\n")
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"BOT_DATA_DIR: cannot keep the reference key in {path}: {why} "
            "(or set TOKEN_ENCRYPTION_KEY)"
        ) from None
    try:
        Fernet(key)
    except ValueError:
        raise ConfigError(
            f"{path} is not a Fernet key: delete it to make a new one (references sealed with "
            "it can then no longer be read), or set TOKEN_ENCRYPTION_KEY"
        ) from None
    if settings.redis_url:
        log.info("reference numbers sealed with the key in BOT_DATA_DIR")
    return (key,)
