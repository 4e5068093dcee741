"""Language models: the provider-agnostic LLMClient and per-user conversation tracking."""

from __future__ import annotations

from core.llm.client import LLMClient
from core.llm.conversation import ConversationManager

__all__ = ["ConversationManager", "LLMClient"]
