"""Verification of theater chains without running code: integrity, checkpoints, the
seed audit, upstream (legacy) chains, import, and chain diff."""

from typing import TYPE_CHECKING, Any

from .integrity import Failure, Problem, VerifyResult, verify_chain, verify_rows

if TYPE_CHECKING:
    from .audit import audit_chain

__all__ = ["Failure", "Problem", "VerifyResult", "audit_chain", "verify_chain", "verify_rows"]


def __getattr__(name: str) -> Any:
    if name == "audit_chain":  # checkpoints need cryptography: load on first use
        from . import audit

        return getattr(audit, name)
    raise AttributeError(f"module 'verify' has no attribute {name!r}")
