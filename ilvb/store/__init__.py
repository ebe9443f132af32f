"""ilvb.store."""
