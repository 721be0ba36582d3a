"""The pure domain: geometry, rules, conflicts, lifecycle. Standard library, Shapely and pyproj only."""
