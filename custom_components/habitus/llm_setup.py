"""Validating the synthesis LLM the options flow sets up: a GGUF file, a download, or a server.

* A local GGUF file must exist, be readable, start with the GGUF magic, and load: llama.cpp loads it
  once in a spawned interpreter (``native.run_child_blocking``; never in HA's process, whose death a
  bad file or a SIGILL wheel would otherwise be), weights memory-mapped, no context created.
* A download streams through HA's shared aiohttp session into a temporary file in
  ``<config>/habitus/models/`` (written and hashed in the executor), is refused early when it does not
  start with the GGUF magic or grows past the size limit, is checked against an optional sha256, and
  is renamed into place atomically; the temporary file is removed whatever happens.
* An OpenAI-compatible server must answer ``GET {url}/models`` in time and list the model (a server
  listing none is taken at its word).

Every failure is an ``LlmSetupError`` whose ``key`` is the flow's translated error.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import aiohttp
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .const import LLM_LOAD_TIMEOUT_SECONDS, LLM_MODELS_DIR, LLM_SERVER_TIMEOUT_SECONDS
from .native import module_usable, run_child_blocking

GGUF_MAGIC = b"GGUF"
_CHUNK = 1 << 16
_WRITE_BLOCK = 1 << 22  # bytes gathered before one executor write (and hash update)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EXIT_MISSING, _EXIT_BROKEN, _EXIT_NOT_LOADED = 3, 4, 5
# Load the model's weights (memory-mapped) and free them: the architecture is known to this llama.cpp
# and the tensors are inside the file. No extra buffer types: no weight repacking, nothing computed.
_LOAD_SCRIPT = f"""
import sys
try:
    from llama_cpp import llama_cpp as low
except ModuleNotFoundError:
    sys.exit({_EXIT_MISSING})
except Exception as err:
    print(f"{{type(err).__name__}}: {{err}}", file=sys.stderr)
    sys.exit({_EXIT_BROKEN})
low.llama_backend_init()
params = low.llama_model_default_params()
if hasattr(params, "use_extra_bufts"):
    params.use_extra_bufts = False
model = low.llama_model_load_from_file(sys.argv[1].encode(), params)
if not model:
    print("llama.cpp could not load it (unsupported architecture or damaged file)", file=sys.stderr)
    sys.exit({_EXIT_NOT_LOADED})
low.llama_model_free(model)
"""


class LlmSetupError(Exception):
    """A validation failure: ``key`` is the options flow's error, ``detail`` fills its ``{detail}``."""

    def __init__(self, key: str, detail: str = "") -> None:
        super().__init__(f"{key}: {detail}" if detail else key)
        self.key = key
        self.detail = detail


def models_dir(hass: HomeAssistant) -> Path:
    """Where downloaded models are kept: ``<config>/habitus/models``."""
    return Path(hass.config.path(*LLM_MODELS_DIR))


# -- a local GGUF file --------------------------------------------------------------------------------


def check_gguf_file(path: Path) -> None:
    """Executor: the file exists, is readable and starts with the GGUF magic."""
    if not path.is_file():
        raise LlmSetupError("file_not_found", str(path))
    try:
        with path.open("rb") as handle:
            head = handle.read(len(GGUF_MAGIC))
    except OSError as err:
        raise LlmSetupError("file_unreadable", f"{path}: {err.strerror or err}") from err
    if head != GGUF_MAGIC:
        raise LlmSetupError("not_gguf", str(path))


async def async_check_loadable(
    hass: HomeAssistant, path: Path, timeout: float = LLM_LOAD_TIMEOUT_SECONDS
) -> None:
    """Load ``path`` with llama.cpp in a child interpreter (bounded by ``timeout``)."""
    if module_usable(hass, "llama_cpp") is False:  # the native check found it missing or crashing
        raise LlmSetupError("llama_cpp_unavailable", "llama-cpp-python")
    done = await hass.async_add_executor_job(run_child_blocking, _LOAD_SCRIPT, [str(path)], timeout)
    if done.returncode == 0:
        return
    if done.returncode == _EXIT_MISSING:
        raise LlmSetupError("llama_cpp_unavailable", "llama-cpp-python")
    if done.returncode is None:
        raise LlmSetupError("model_not_loadable", f"loading {done.last_line}")
    if done.returncode < 0:
        raise LlmSetupError("model_not_loadable", f"llama.cpp died of signal {-done.returncode}")
    raise LlmSetupError("model_not_loadable", done.last_line or f"exit code {done.returncode}")


async def async_validate_model_file(hass: HomeAssistant, path_text: str) -> Path:
    """A local GGUF the worker can load (the absolute path to store)."""
    path = Path(path_text.strip()).expanduser()
    if not path.is_absolute():
        path = Path(hass.config.path(str(path)))  # relative to the configuration folder
    await hass.async_add_executor_job(check_gguf_file, path)
    await async_check_loadable(hass, path)
    return path


# -- a download ---------------------------------------------------------------------------------------


def check_url(url: str) -> str:
    """An http(s) URL with a host (stripped), else ``invalid_url``."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError as err:
        raise LlmSetupError("invalid_url", url) from err
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise LlmSetupError("invalid_url", url)
    return url


def check_sha256(text: str | None) -> str | None:
    """A sha256 hex digest (lower case), None when not given, else ``invalid_checksum``."""
    digest = (text or "").strip().lower()
    if not digest:
        return None
    if not _SHA256.match(digest):
        raise LlmSetupError("invalid_checksum", digest)
    return digest


def model_file_name(url: str) -> str:
    """A safe file name for the model behind ``url`` (its last path segment, ``.gguf`` appended)."""
    segment = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    name = re.sub(r"[^A-Za-z0-9._-]", "_", segment).lstrip(".") or "model"
    return name if name.lower().endswith(".gguf") else f"{name}.gguf"


def _open_part(directory: Path, name: str) -> tuple[Path, IO[bytes]]:
    directory.mkdir(parents=True, exist_ok=True)
    part = directory / f".{name}.{uuid.uuid4().hex}.part"
    return part, part.open("xb")


def _write(handle: IO[bytes], digest: Any, block: bytes) -> None:
    handle.write(block)
    digest.update(block)


def _finish(handle: IO[bytes], part: Path, target: Path | None) -> None:
    handle.close()
    if target is not None:
        os.replace(part, target)  # atomic: readers see the old file or the whole new one


class _Download:
    """One streamed download into ``part`` (state kept for the executor writes)."""

    def __init__(self, handle: IO[bytes], max_bytes: int) -> None:
        self.handle = handle
        self.max_bytes = max_bytes
        self.digest = hashlib.sha256()
        self.received = 0
        self.head = b""  # the first bytes: the GGUF magic
        self.pending = bytearray()

    def add(self, chunk: bytes) -> None:
        """Take a chunk; refuse what is no GGUF (as soon as 4 bytes are in) or too large."""
        self.received += len(chunk)
        if self.received > self.max_bytes:
            raise LlmSetupError("too_large", f"{self.max_bytes / 1024**2:.0f} MiB")
        self.pending += chunk
        if len(self.head) < len(GGUF_MAGIC):
            self.head += chunk[: len(GGUF_MAGIC) - len(self.head)]
            if len(self.head) == len(GGUF_MAGIC) and self.head != GGUF_MAGIC:
                raise LlmSetupError("not_gguf", "the download is not a GGUF file")

    async def flush(self, hass: HomeAssistant, force: bool = False) -> None:
        """Write (and hash) what was gathered, in the executor."""
        if self.pending and (force or len(self.pending) >= _WRITE_BLOCK):
            block = bytes(self.pending)
            self.pending.clear()
            await hass.async_add_executor_job(_write, self.handle, self.digest, block)


async def async_download_model(
    hass: HomeAssistant,
    url: str,
    directory: Path,
    *,
    max_bytes: int,
    sha256: str | None = None,
    check: Callable[[Path], Awaitable[None]] | None = None,
) -> Path:
    """Download ``url`` to ``directory/<name>.gguf`` (atomically); the temporary file never stays.

    ``check`` (e.g. ``async_check_loadable``) runs on the complete temporary file before the rename:
    a file that fails it is deleted like any failed download.
    """
    session = async_get_clientsession(hass)
    name = model_file_name(url)
    part, handle = await hass.async_add_executor_job(_open_part, directory, name)
    target: Path | None = None
    try:
        download = _Download(handle, max_bytes)
        await _async_stream(hass, session, url, download)
        await download.flush(hass, force=True)
        if download.head != GGUF_MAGIC:
            raise LlmSetupError("not_gguf", "the download is not a GGUF file")
        if sha256 is not None and download.digest.hexdigest() != sha256:
            raise LlmSetupError("checksum_mismatch", download.digest.hexdigest())
        await hass.async_add_executor_job(handle.flush)
        if check is not None:
            await check(part)
        target = directory / name
    finally:
        await _async_close(hass, handle, part, target)
    return target


async def _async_close(hass: HomeAssistant, handle: IO[bytes], part: Path, target: Path | None) -> None:
    """Close; rename into place (success) or remove the temporary file (any failure, cancellation)."""
    try:
        await hass.async_add_executor_job(_finish, handle, part, target)
    finally:
        if target is None:
            await hass.async_add_executor_job(partial(part.unlink, missing_ok=True))


async def _async_stream(
    hass: HomeAssistant,
    session: aiohttp.ClientSession,
    url: str,
    download: _Download,
) -> None:
    timeout = aiohttp.ClientTimeout(total=None, connect=LLM_SERVER_TIMEOUT_SECONDS, sock_read=60)
    try:
        async with session.get(url, timeout=timeout) as response:
            if response.status != 200:
                raise LlmSetupError("download_failed", f"HTTP {response.status}")
            total = response.content_length
            if total is not None and total > download.max_bytes:
                raise LlmSetupError("too_large", f"{download.max_bytes / 1024**2:.0f} MiB")
            async for chunk in response.content.iter_chunked(_CHUNK):
                download.add(chunk)
                await download.flush(hass)
    except TimeoutError as err:
        raise LlmSetupError("timeout", url) from err
    except aiohttp.ClientError as err:
        raise LlmSetupError("cannot_connect", f"{type(err).__name__}: {err}") from err


# -- an OpenAI-compatible server ----------------------------------------------------------------------


def models_url(base_url: str) -> str:
    """``GET`` endpoint listing the server's models (the base URL may end in ``/v1`` or not)."""
    base = base_url.rstrip("/")
    return f"{base}/models" if base.endswith("/v1") else f"{base}/v1/models"


def listed_models(body: Any) -> list[str]:
    """The model ids of an OpenAI ``/models`` answer (``{"data": [{"id": ...}]}``)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise LlmSetupError("invalid_response", "no model list ('data') in the answer")
    return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]


async def async_validate_server(
    hass: HomeAssistant, url: str, model: str, timeout: float = LLM_SERVER_TIMEOUT_SECONDS
) -> str:
    """Check the server answers and serves ``model``; the model name to store ("" = its first/only)."""
    url = check_url(url)
    session = async_get_clientsession(hass)
    try:
        async with asyncio.timeout(timeout), session.get(models_url(url)) as response:
            if response.status != 200:
                raise LlmSetupError("cannot_connect", f"HTTP {response.status}")
            body = await response.json(content_type=None)
    except TimeoutError as err:
        raise LlmSetupError("timeout", f"{timeout:.0f} s") from err
    except aiohttp.ClientError as err:
        raise LlmSetupError("cannot_connect", f"{type(err).__name__}: {err}") from err
    except ValueError as err:  # not JSON
        raise LlmSetupError("invalid_response", str(err)) from err
    ids = listed_models(body)
    model = model.strip()
    if not ids or model in ids:
        return model
    if not model:
        return ids[0]
    raise LlmSetupError("model_not_found", ", ".join(ids[:10]))
