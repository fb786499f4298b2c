"""Aggregate-only engagement: tracking tokens, HyperLogLog counting and the durable counters."""
