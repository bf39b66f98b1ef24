"""Secrets encrypted at rest: Slack's installations and the reference numbers in a record are
Fernet-sealed before they reach Redis.

`MultiFernet` encrypts with the first key and decrypts with any of them, so a key is
rotated by adding a new one after the old, then putting it first, and keeping the old one
after it until everything stored has been sealed again (`python -m bot rotate-key`); see
"Rotating the encryption key" in the admin's guide.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["Cipher", "InvalidToken"]


class Cipher:
    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._current = Fernet(keys[0])
        self._all = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def ephemeral(cls) -> Cipher:
        """A key of this process only (tests, and a runner built without keys): what it seals
        cannot be read after a restart."""
        return cls((Fernet.generate_key().decode(),))

    def seal(self, plain: bytes) -> bytes:
        return self._all.encrypt(plain)

    def open(self, sealed: bytes) -> bytes:
        """The plain bytes; `InvalidToken` if no key opens them (or they were changed)."""
        return self._all.decrypt(sealed)

    def opens(self, sealed: bytes) -> bool:
        """Some key opens it."""
        try:
            self._all.decrypt(sealed)
        except InvalidToken:
            return False
        return True

    def is_current(self, sealed: bytes) -> bool:
        """Sealed with the first key (nothing to rotate)."""
        try:
            self._current.decrypt(sealed)
        except InvalidToken:
            return False
        return True

    def reseal(self, sealed: bytes) -> bytes:
        """The same plain bytes sealed with the first key."""
        return self._all.rotate(sealed)
