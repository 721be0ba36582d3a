"""Proof: the RFC 9162 Merkle tree, salted log entries and signed tree heads (pure, no I/O)."""
