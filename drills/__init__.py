"""Reliability drills: real authgate processes on real stores, a fault injected, figures printed.

Each drill is `python -m drills.<name>` (`--quick` for a run of seconds); `python -m drills`
runs them all. The figures and how to read them: docs/reliability.md.
"""
