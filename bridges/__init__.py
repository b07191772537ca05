"""Kith bridges package."""
