"""Kith bridges: one module per silo, pulling closed networks' data into the open graph (docs/ARCHITECTURE.md §7)."""

from bridges._clean import printable
from bridges._files import neutralize_formula

__all__ = ["neutralize_formula", "printable"]
