"""ilvb.web."""
