"""ilvb.server."""
