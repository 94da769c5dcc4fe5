"""Encore: Wrapped-style yearly recaps and differentially private fun facts."""

__version__ = "0.1.0"
