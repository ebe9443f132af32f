"""ilvb.rooms."""
