"""ilvb.console."""
