"""Rendering of nsprov's results: rich for people, JSON lines for machines. Pure formatting."""
