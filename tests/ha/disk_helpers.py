"""A full disk at HA's atomic write: the one thing the HA tests simulate (a real full disk cannot be
made in the test environment). Everything around the write call stays real: HA's ``AtomicWriter``, its
clean-up of the half-written temporary file, the target file on disk. The same for the other write
errors a user meets (permission denied, a read-only file system): the tests run as root, for whom
permissions do not stop a write, and a read-only mount needs privileges they do not have."""

from __future__ import annotations

import errno
import io
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

from atomicwrites import AtomicWriter


class _FailingFile(io.IOBase):
    """The temporary file of an atomic write that fails: half the data goes in, then ``code`` (ENOSPC:
    a disk that fills up)."""

    def __init__(self, real: Any, code: int) -> None:
        super().__init__()
        self._real = real
        self._code = code
        self.name = real.name

    def write(self, data: Any) -> int:
        self._real.write(data[: len(data) // 2])  # text or bytes, as the writer opened it
        self._real.flush()
        raise OSError(self._code, os.strerror(self._code))

    def fileno(self) -> int:
        return int(self._real.fileno())

    def close(self) -> None:
        self._real.close()
        super().close()


@contextmanager
def failing_writes(path: Path, code: int) -> Iterator[None]:
    """Atomic writes of ``path`` (HA's ``write_utf8_file_atomic``) fail with the errno ``code`` halfway
    through their temporary file; other files are written as usual."""
    original = AtomicWriter.get_fileobject

    def get_fileobject(writer: AtomicWriter, **kwargs: Any) -> Any:
        real = original(writer, **kwargs)
        return _FailingFile(real, code) if writer._path == str(path) else real

    with patch.object(AtomicWriter, "get_fileobject", get_fileobject):
        yield


def full_disk(path: Path) -> AbstractContextManager[None]:
    """Atomic writes of ``path`` fail with ENOSPC halfway through their temporary file."""
    return failing_writes(path, errno.ENOSPC)
