"""A full disk at HA's atomic write: the one thing the HA tests simulate (a real full disk cannot be
made in the test environment). Everything around the write call stays real: HA's ``AtomicWriter``, its
clean-up of the half-written temporary file, the target file on disk."""

from __future__ import annotations

import errno
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

from atomicwrites import AtomicWriter


class _FullDisk(io.IOBase):
    """The temporary file of an atomic write on a disk that fills up: half the data goes in, then
    ENOSPC."""

    def __init__(self, real: Any) -> None:
        super().__init__()
        self._real = real
        self.name = real.name

    def write(self, data: Any) -> int:
        self._real.write(data[: len(data) // 2])  # text or bytes, as the writer opened it
        self._real.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fileno(self) -> int:
        return int(self._real.fileno())

    def close(self) -> None:
        self._real.close()
        super().close()


@contextmanager
def full_disk(path: Path) -> Iterator[None]:
    """Atomic writes of ``path`` (HA's ``write_utf8_file_atomic``) fail with ENOSPC halfway through
    their temporary file; other files are written as usual."""
    original = AtomicWriter.get_fileobject

    def get_fileobject(writer: AtomicWriter, **kwargs: Any) -> Any:
        real = original(writer, **kwargs)
        return _FullDisk(real) if writer._path == str(path) else real

    with patch.object(AtomicWriter, "get_fileobject", get_fileobject):
        yield
