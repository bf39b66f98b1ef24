"""Tokens encrypted at rest: what the installation store writes to Redis is Fernet-sealed.

`MultiFernet` encrypts with the first key and decrypts with any of them, so a key is
rotated by adding a new one after the old, then putting it first, and keeping the old one
after it until every stored installation has been sealed again (`Installations.reseal`,
run by `python -m bot rotate-key`); see the README's "Rotating the encryption key".
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
