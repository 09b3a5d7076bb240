"""Rational prescribing (合理用药): problem codes, 处方评价表 summary, cross-checks and antibiotic use targets."""
from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).with_name("data")

__all__ = ["DATA_DIR"]
