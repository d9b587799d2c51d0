"""nsprov: provision Linux namespaces on remote hosts over SSH, and prove the isolation holds."""

__version__ = "0.1.0"
