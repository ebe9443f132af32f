"""ilvb.cluster."""
