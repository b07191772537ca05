"""Kith node package."""
