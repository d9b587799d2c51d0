"""The agent: runs on the target host as root, observes the kernel, plans, applies, reports.

Imports only nsprov.model, the standard library and (in the kernel layer) pyroute2. It ships
as a zipapp (see nsprov.controller.bundle) and runs with a plain python3 >= 3.9.
"""
