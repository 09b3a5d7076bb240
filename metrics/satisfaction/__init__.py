"""Patient and staff satisfaction surveys (满意度调查): questionnaires as data and pure scoring functions."""
from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).with_name("data")

__all__ = ["DATA_DIR"]
