"""Hybrid edge/cloud cascade (being written)."""
