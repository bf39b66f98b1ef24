"""Putting a file the person agreed to receive into their OneDrive: one PUT of the whole file
to the upload URL Teams gave with their consent (it needs no token of the bot's)."""

from __future__ import annotations

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=10)


class UploadFailed(Exception):
    """OneDrive refused the file or could not be reached (the class and status only)."""


async def put(url: str, data: bytes) -> None:
    headers = {"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.put(url, data=data, headers=headers) as response,
        ):
            if response.status >= 400:
                raise UploadFailed(f"refused {response.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise UploadFailed(type(exc).__name__) from None
