"""DDD engine: antimicrobial scope, versioned DDD tables, generic names, strengths, DDD units and AUD."""
from metrics.ddd.engine import (
    NOT_COVERED, OK, OUT_OF_SCOPE, UNDEFINED, AUDResult, ConsumptionRow, DDDConfig, DDDLine, UncoveredLine,
    YearComparison, aud, aud_over_months, compare_years, ddd_lines, ddd_units, load_ddd_config,
)
from metrics.ddd.files import DDDConfigError
from metrics.ddd.scope import Scope, in_scope, load_scope
from metrics.ddd.strength import Strength, parse_strength

__all__ = [
    "NOT_COVERED", "OK", "OUT_OF_SCOPE", "UNDEFINED", "AUDResult", "ConsumptionRow", "DDDConfig", "DDDConfigError",
    "DDDLine", "Scope", "Strength", "UncoveredLine", "YearComparison", "aud", "aud_over_months", "compare_years",
    "ddd_lines", "ddd_units", "in_scope", "load_ddd_config", "load_scope", "parse_strength",
]
