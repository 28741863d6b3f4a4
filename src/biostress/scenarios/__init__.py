"""Scenarios: apply measures to the land cover of a run and see what changes.

:func:`~biostress.scenarios.run.run_scenario` applies one or more measures (each on a drawn polygon,
or a plan's cells) to the land cover of an existing run, re-runs the local indicators on the
affected window only (the window grown by the indicators' reach, so the result equals a full
re-run) and reports the change per cell and per area unit, with the cost.
"""

from .run import Change, ScenarioResult, affected_windows, plan_changes, run_scenario, scenario_on_context

__all__ = ["Change", "ScenarioResult", "affected_windows", "plan_changes", "run_scenario", "scenario_on_context"]
