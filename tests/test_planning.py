"""Plans for a run: candidates built tile by tile equal the whole-grid ones, the plan keeps the
budget, and the chosen blocks are where the options are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from biostress.errors import ConfigError
from biostress.opportunity import measure_layers
from biostress.planning import candidates, make_plan, write_plan
from biostress.runs import open_run
from biostress.store.runfolder import RunFolder
from test_scenarios import _run_folder

MEASURES = ["depaving", "street_tree", "herb_rich_grassland"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plan")
    _run_folder(tmp)
    return open_run(tmp / "run")


def test_tiled_candidates_equal_whole_grid(run):
    whole = candidates(run.inputs, run.files, block_cells=10, measures=MEASURES, tile_cells=4096)
    tiled = candidates(run.inputs, run.files, block_cells=10, measures=MEASURES, tile_cells=50)
    key = ["site", "measure"]
    a = whole.sort_values(key).reset_index(drop=True)
    b = tiled.sort_values(key).reset_index(drop=True)
    assert len(a) > 0 and a[key].equals(b[key])
    for c in ("cost", "gain", "cooling", "water_m3", "area_m2", "x", "y"):
        np.testing.assert_allclose(a[c].to_numpy(float), b[c].to_numpy(float), rtol=1e-6, atol=1e-6, err_msg=c)


def test_candidate_sums_equal_the_cell_layers(run):
    cands = candidates(run.inputs, run.files, block_cells=10, measures=["depaving"], tile_cells=4096)
    lay = measure_layers(run.context(), None, ["depaving"])["depaving"]
    fits = np.asarray(lay["fits"], bool)
    gain = np.asarray(lay["gain_bio"], float)
    ok = fits & np.isfinite(gain) & (gain >= 0)
    dropped = cands.attrs["dropped"].get("depaving", 0)
    if dropped == 0:
        assert cands["gain"].sum() == pytest.approx(gain[ok].sum(), rel=1e-9)
    assert cands["cells"].sum() <= fits.sum()
    # sites are 10 x 10 blocks: each row's x, y is the centre of its block
    g = run.grid
    col = ((cands["x"] - g.x0) / (10 * g.cell)).astype(int)
    row = ((g.y1 - cands["y"]) / (10 * g.cell)).astype(int)
    assert (cands["site"] == row * -(-g.width // 10) + col).all()


def test_plan_keeps_the_budget_and_writes(run, tmp_path: Path):
    cands = candidates(run.inputs, run.files, block_cells=10, measures=MEASURES, tile_cells=4096)
    budget = float(cands["cost"].sum() / 4)
    p = make_plan(cands, run.grid, budget=budget)
    assert p.result.status in ("optimal", "feasible")
    assert p.blocks["cost"].sum() <= budget + 1e-6
    assert p.blocks["site"].is_unique  # one measure per block
    # a block polygon is 10 x 10 cells (or less at the grid edge), placed at its site's centre
    areas = p.blocks.geometry.area.to_numpy()
    assert (areas <= (10 * run.grid.cell) ** 2 + 1e-6).all()
    chosen = cands.set_index(["site", "measure"]).loc[list(zip(p.blocks["site"], p.blocks["measure"], strict=True))]
    np.testing.assert_allclose(p.blocks.geometry.centroid.x.to_numpy()[areas == areas.max()],
                               chosen["x"].to_numpy()[areas == areas.max()])
    # nothing better fits the budget: the chosen gain is at least the greedy best-ratio pick
    best_single = cands[cands["cost"] <= budget]["gain"].max()
    assert p.blocks["gain"].sum() >= best_single - 1e-9
    with RunFolder(tmp_path / "p") as rf:
        rf.set_grid(run.grid)
        write_plan(rf, p, run.grid)
    assert (tmp_path / "p" / "biostress.gpkg").exists()
    import pyogrio

    summary = pd.DataFrame(pyogrio.read_dataframe(tmp_path / "p" / "biostress.gpkg", layer="plan_summary"))
    assert summary.set_index("quantity").loc["status", "value"] == p.result.status


def test_plan_needs_budget_or_targets(run):
    cands = candidates(run.inputs, run.files, block_cells=10, measures=["depaving"], tile_cells=4096)
    with pytest.raises(ConfigError, match="budget"):
        make_plan(cands, run.grid)
    with pytest.raises(ConfigError, match="Unknown measure"):
        candidates(run.inputs, run.files, measures=["no_such"])


def test_cli_plan(run, tmp_path: Path):
    from typer.testing import CliRunner

    from biostress.cli import app

    r = CliRunner().invoke(app, ["plan", str(run.path), "--budget", "100000", "--measure", "depaving",
                                 "--measure", "street_tree", "--out", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    assert "Plan" in r.output and (tmp_path / "p" / "biostress.gpkg").exists()
    r = CliRunner().invoke(app, ["plan", str(run.path), "--weight", "cooling", "--budget", "1", "--out",
                                 str(tmp_path / "q")])
    assert r.exit_code != 0 and "name=number" in r.output


def test_scenario_of_a_plan_converts_what_the_plan_counted(run, tmp_path: Path):
    from typer.testing import CliRunner

    from biostress.cli import app
    from biostress.scenarios import plan_changes, run_scenario

    cands = candidates(run.inputs, run.files, block_cells=10, measures=["depaving", "street_tree"], tile_cells=4096)
    p = make_plan(cands, run.grid, budget=float(cands["cost"].sum() / 3))
    changes = plan_changes(run, p.blocks, 10)
    assert {c.measure for c in changes} == set(p.blocks["measure"])
    res = run_scenario(run.path, changes, modules=("green",))
    converted_ha = res.landcover["change_ha"].abs().sum() / 2  # what one class loses another gains
    assert converted_ha == pytest.approx(p.blocks["area_m2"].sum() / 1e4, rel=1e-6)
    with RunFolder(tmp_path / "plan") as rf:
        rf.set_grid(run.grid)
        write_plan(rf, p, run.grid)
    r = CliRunner().invoke(app, ["scenario", str(run.path), "--plan", str(tmp_path / "plan"), "--out",
                                 str(tmp_path / "s")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["scenario", str(run.path), "--out", str(tmp_path / "s2")])
    assert r.exit_code != 0 and "--plan" in r.output
