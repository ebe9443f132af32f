"""ilvb.billing."""
