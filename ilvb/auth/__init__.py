"""ilvb.auth."""
