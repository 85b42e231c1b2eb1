"""Verification of theater chains without running code: integrity, checkpoints, diff."""

from .integrity import Failure, Problem, VerifyResult, verify_chain, verify_rows

__all__ = ["Failure", "Problem", "VerifyResult", "verify_chain", "verify_rows"]
