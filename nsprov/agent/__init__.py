"""The agent: runs on the target host as root, observes the kernel, plans, applies, reports.

Imports only nsprov.model and the standard library (it speaks rtnetlink itself: rtdump.py,
rtwrite.py). It ships as a zipapp (see nsprov.controller.bundle) and runs with a plain
python3 >= 3.9.
"""
