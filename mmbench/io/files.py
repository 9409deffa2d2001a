"""Shared file handling for every ``mmbench.io`` input: path checks (missing, empty, folder, web address),
reading binary file objects, type descriptions and item positions for messages, and atomic writes.

Each helper raises the error type its caller names (``ImageError``, ``AudioError``, ``VideoError``...).
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from ..errors import MMBenchError

__all__ = ["atomic_write", "checked_path", "describe_type", "looks_like_url", "read_file_like", "with_index"]


def with_index(err: MMBenchError, what: str, index: int) -> MMBenchError:
    """The same error, its message prefixed with the item's 1-based position: ``"image 3: the file is empty."``."""
    message = err.message
    if len(message) > 1 and message[0].isupper() and message[1].islower():
        message = message[0].lower() + message[1:]
    return type(err)(f"{what} {index + 1}: {message}", hint=err.hint)  # 1-based, as users count


def describe_type(value: Any) -> str:
    """The name of ``value``'s type, as messages show it (``"int"``, ``"dict"``)."""
    return type(value).__name__


def looks_like_url(value: str) -> bool:
    """Whether ``value`` is a web address (http, https or ftp) rather than a local path."""
    return value.strip().lower().startswith(("http://", "https://", "ftp://"))


def checked_path(value: str | os.PathLike, *, what: str, error: type[MMBenchError], kind: str) -> Path:
    """A path that exists, is a file and is not empty; otherwise ``error`` with a precise message.

    ``what`` names the input in messages (``"image"``), ``kind`` its article and type in hints (``"an image"``).
    """
    text = os.fspath(value)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text.strip():
        raise error(f"No {what} was given (the file path is empty).", hint=f"Choose {kind} file.")
    if looks_like_url(text):
        raise error(f"The {what} {text!r} is a web address, not a file.",
                    hint="Download it first and pass the local file.")
    path = Path(text).expanduser()
    try:
        exists = path.exists()
        is_dir = exists and path.is_dir()
        size = path.stat().st_size if exists else -1
    except (OSError, ValueError) as exc:  # permission denied, NUL byte in the name, name too long...
        raise error(f"The {what} file cannot be opened: {text!r} ({exc.__class__.__name__}).",
                    hint="Check the path and that the file is readable.") from exc
    if not exists:
        raise error(f"The {what} file {str(path)!r} was not found.", hint="Check the path and the spelling.")
    if is_dir:
        raise error(f"The {what} path {str(path)!r} is a folder, not a file.", hint=f"Choose {kind} file inside it.")
    if size == 0:
        raise error(f"The {what} file {path.name!r} is empty (0 bytes).", hint=f"Choose a different {kind.split(' ', 1)[-1]} file.")
    return path


def read_file_like(stream: Any, *, what: str, error: type[MMBenchError], empty_hint: str | None = None) -> bytes:
    """All bytes of a binary file-like object (from its current position).

    A text-mode file, a read that fails or returns something other than bytes is ``error``; so is a
    stream with no bytes left when ``empty_hint`` is given (the hint of that message).
    """
    if isinstance(stream, io.TextIOBase):
        raise error(f"The {what} file was opened in text mode.", hint="Open it in binary mode ('rb').")
    try:
        data = stream.read()
    except Exception as exc:  # closed file, network error, anything the object raises
        raise error(f"The {what} could not be read from the file object ({exc}).",
                    hint="Open the file again in binary mode ('rb').") from exc
    if isinstance(data, str):
        raise error(f"The {what} file was opened in text mode.", hint="Open it in binary mode ('rb').")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise error(f"The {what} file object returned {describe_type(data)} instead of bytes.",
                    hint="Pass a file opened in binary mode ('rb'), raw bytes or a path.")
    if empty_hint is not None and not data:
        raise error(f"The {what} file is empty (0 bytes).", hint=empty_hint)
    return bytes(data)


def atomic_write(path: Path, write: Callable[[Any], Any]) -> None:
    """``write(binary_file)`` into a temporary file, then rename it to ``path`` (several app
    processes may start together; none may see a half-written file). The file is world-readable."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; what is written here is public media
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
