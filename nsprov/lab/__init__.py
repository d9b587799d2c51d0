"""Local lab hosts: namespace sets on this machine, each with a real OpenSSH sshd.

A lab host behaves like a small remote Linux machine (own network stack, hostname,
/run, /etc, /var, process tree and IPC), reached from the root namespace through a
bridge that lives in the lab's own network namespace.
"""

from nsprov.lab.hosts import Lab, LabError, missing_requirements

__all__ = ["Lab", "LabError", "missing_requirements"]
