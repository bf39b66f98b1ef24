"""The record as files in a person's DM: uploaded with Slack's current upload API
(`files.getUploadURLExternal`, the upload, `files.completeUploadExternal`, as slack_sdk's
`files_upload_v2` makes them), and deleted when the report is withdrawn.

The reference of the upload, as a copy of the report, is `files\\n<id>\\n<id>`.
"""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from conversation.messages import RecordFile
from conversation.telling import wording

FILES = "files\n"


def is_files(where: str) -> bool:
    return where.startswith(FILES)


async def upload(client: AsyncWebClient, channel: str, record: RecordFile) -> str:
    """Both files (or the one `record.only` names) into `channel`, with one line saying what
    they are; their reference. Raises the Web API's errors."""
    formats = (record.only,) if record.only else RecordFile.FORMATS
    uploads = [
        {
            "filename": f"{record.name}.{fmt}",
            "title": f"{record.name}.{fmt}",
            "content": record.content(fmt).encode(),
        }
        for fmt in formats
    ]
    done = await client.files_upload_v2(
        file_uploads=uploads,
        channel=channel,
        initial_comment=wording()["record"]["file"]["sent"],
    )
    return FILES + "\n".join(f["id"] for f in done.get("files") or ())


async def delete(client: AsyncWebClient, where: str) -> None:
    """Delete every file of an upload (raises the Web API's errors)."""
    for file_id in where.removeprefix(FILES).split("\n"):
        if file_id:
            await client.files_delete(file=file_id)
