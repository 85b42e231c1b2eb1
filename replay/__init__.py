"""Deterministic replay of recorded chains, and divergence reports."""
