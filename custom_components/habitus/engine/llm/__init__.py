"""LLM access for behaviour synthesis: one async interface, an in-process llama.cpp backend and an
OpenAI-compatible HTTP backend, with the constrained output format in ``grammar``.

Nothing here imports ``llama_cpp`` or ``aiohttp`` at module level: each backend imports its library
when it is created, so the engine stays importable (and musl-installable) without them.
"""
