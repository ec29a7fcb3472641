"""Putting a finished run to work: load it, predict and embed new audio, export it."""
