"""Count prompt tokens with the model's own tokenizer (llama.cpp, vocabulary only: cheap to load).

``prompt.build_prompts`` takes any ``str -> int`` counter; ``LlamaTokenCounter`` is the exact one,
``prompt.estimate_tokens`` the fallback when llama-cpp-python or the model file is unavailable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import LLMError


class LlamaTokenCounter:
    """Callable ``text -> tokens`` (BOS included) using a GGUF file's vocabulary only."""

    def __init__(self, model_path: Path) -> None:
        try:
            from llama_cpp import Llama  # noqa: PLC0415 (optional native library)
        except ImportError as err:
            raise LLMError("token counting with the model needs llama-cpp-python") from err
        if not model_path.is_file():
            raise LLMError(f"model file not found: {model_path}")
        self._llm: Any = Llama(model_path=str(model_path), vocab_only=True, verbose=False)

    def __call__(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))

    def close(self) -> None:
        """Free the vocabulary."""
        self._llm.close()
