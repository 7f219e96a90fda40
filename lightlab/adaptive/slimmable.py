"""Width-switchable network and budget controller (being written)."""
