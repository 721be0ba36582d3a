"""Conversions to and from the standards around us (GeoJSON first)."""
