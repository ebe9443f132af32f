"""ilvb.client."""
