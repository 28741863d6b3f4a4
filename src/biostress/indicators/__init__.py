"""Indicators: current biodiversity and pressures, as pure functions of arrays.

Every indicator module exposes plain functions (arrays in, arrays out; no file I/O) with the
formula, units and source in the docstring, and a ``compute(ctx) -> list[IndicatorResult]`` entry
point that the pipeline calls with an :class:`~biostress.indicators.base.IndicatorContext`.
Parameters live in validated data files under ``biostress/data/params/``.
"""
