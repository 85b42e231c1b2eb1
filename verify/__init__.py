"""Verification of theater chains without running code: integrity, checkpoints, the
seed audit, upstream (legacy) chains, import, and chain diff."""

from .integrity import Failure, Problem, VerifyResult, verify_chain, verify_rows

__all__ = ["Failure", "Problem", "VerifyResult", "verify_chain", "verify_rows"]
