"""Kith federation package."""
