"""Natura 2000 surroundings: a site's surrounding zone, the pressures on the site from it
(nitrogen, drying-out, fragmentation, hostile land), the rural measures that fit in the zone and
their economics per hectare and per typical farm. See ``docs/natura2000.md``."""

from .surroundings import (
    DRAINED_CLASSES,
    FARM_TYPES_FILE,
    check_farm_types,
    farm_type_economics,
    load_farm_types,
    measure_economics,
    per_ha_units,
    rule_variables,
    site_pressures,
    surroundings_report,
    zone_measures,
)
from .zone import ZoneCells, coverage, find_site, surrounding_zone, zone_cells

__all__ = [
    "DRAINED_CLASSES", "FARM_TYPES_FILE", "ZoneCells", "check_farm_types", "coverage", "farm_type_economics",
    "find_site", "load_farm_types", "measure_economics", "per_ha_units", "rule_variables", "site_pressures",
    "surrounding_zone", "surroundings_report", "zone_cells", "zone_measures",
]
