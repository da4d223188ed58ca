"""The upload form, parsed as it arrives with a limit on every file.

Starlette's multipart parser bounds the number of files and the size of
plain fields, not the size of a file: a 60 MB file in a body of any declared
length was spooled whole before the image check refused it. Here a file is
refused the moment it passes ``max_file_bytes``, and nothing more is read.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from starlette.datastructures import FormData, Headers
from starlette.formparsers import MultiPartException, MultiPartParser


class FileTooLarge(MultiPartException):
    """A file of the form passed the limit on one file."""


class TooManyFiles(MultiPartException):
    """The form carries more files than one request may."""


class ImageFormParser(MultiPartParser):
    def __init__(self, headers: Headers, stream: AsyncGenerator[bytes, None], *, max_file_bytes: int,
                 **limits: Any) -> None:
        super().__init__(headers, stream, **limits)
        self.max_file_bytes = max_file_bytes
        self._file_bytes = 0

    def on_part_begin(self) -> None:
        super().on_part_begin()
        self._file_bytes = 0

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current_part.file is not None:
            self._file_bytes += end - start
            if self._file_bytes > self.max_file_bytes:
                raise FileTooLarge(f"file {self._current_files} is over the limit of {self.max_file_bytes:,} "
                                   "bytes per image")
        super().on_part_data(data, start, end)

    def on_headers_finished(self) -> None:
        try:
            super().on_headers_finished()
        except MultiPartException as error:
            if self._current_files > self.max_files:  # Starlette counted one file too many
                raise TooManyFiles(f"more than {self.max_files} files, over the limit of {self.max_files} per request"
                                   ) from error
            raise


async def parse(headers: Headers, stream: AsyncGenerator[bytes, None], max_files: int, max_file_bytes: int,
                max_fields: int, max_part_size: int) -> FormData:
    """The form, files spooled to anonymous temporary files; :class:`FileTooLarge`, :class:`TooManyFiles` or
    another ``MultiPartException`` for a form IRS does not take."""
    if not headers.get("content-type", "").startswith("multipart/form-data"):
        return FormData()  # no files in it, which the caller says
    parser = ImageFormParser(headers, stream, max_file_bytes=max_file_bytes, max_files=max_files,
                             max_fields=max_fields, max_part_size=max_part_size)
    return await parser.parse()
