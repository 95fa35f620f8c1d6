"""Exact dispatch: every node sent as soon as its own predecessors finished.

(Being built; see issue 5.)
"""
