"""Benchmarks that print figures: BFCL schema validity and constrained-decoding overhead."""
