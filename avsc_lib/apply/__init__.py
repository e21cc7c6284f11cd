"""Applying the trained system: exporting it and classifying new recordings."""
