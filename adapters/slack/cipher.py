"""The Fernet keys sealing the stored tokens: the same sealing as every secret the bot keeps
(`conversation.storage.seal`), named here for the installation store."""

from conversation.storage.seal import Cipher, InvalidToken

__all__ = ["Cipher", "InvalidToken"]
