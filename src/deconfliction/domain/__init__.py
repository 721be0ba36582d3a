"""The pure domain: geometry, rules, conflicts, lifecycle.

It imports the standard library, Shapely, pyproj and NumPy only (tests/test_architecture.py).
"""
