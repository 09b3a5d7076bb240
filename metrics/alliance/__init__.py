"""Medical-alliance (医共体) indicators: pure functions over unit-month fields, memberships and a county return."""
from metrics.alliance.catalog import ORG_KINDS, AllianceCatalog, AllianceExample, AllianceFormula, \
    AllianceIndicator, Term, load_alliance_indicators, scoring_indicators
from metrics.alliance.compute import AllianceValue, Contribution, Membership, UnitMonthValues, compute_alliances
from metrics.alliance.score import score_alliances, to_indicator_values

__all__ = ["ORG_KINDS", "AllianceCatalog", "AllianceExample", "AllianceFormula", "AllianceIndicator",
           "AllianceValue", "Contribution", "Membership", "Term", "UnitMonthValues", "compute_alliances",
           "load_alliance_indicators", "score_alliances", "scoring_indicators", "to_indicator_values"]
