"""Observability: hooks around every operation and storage request."""

from .hooks import HOOK_METHODS, HookRegistry, OperationContext

__all__ = ["HOOK_METHODS", "HookRegistry", "OperationContext"]
