"""The HTML report, rendered from stored records and opened in headless Chromium: no console
errors, every plot container has rendered SVG, the leaderboard sorts on click. A screenshot
is written (to $DETBENCH_SCREENSHOTS when set) so the page can be looked at."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("jinja2")
pytest.importorskip("pandas")
pytest.importorskip("plotly")

from bench.data.catalog import prepare_synthetic  # noqa: E402
from bench.data.images import image_root  # noqa: E402
from bench.jsonio import dump_json  # noqa: E402
from bench.protocols import COCO  # noqa: E402
from bench.report.render import render_compare, render_run  # noqa: E402
from bench.run.unit import UnitSettings, run_unit  # noqa: E402
from tests.noisy_detector import NoisyGroundTruth  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


def make_run(path: Path, ds, root, noise_of: dict) -> Path:
    path.mkdir(parents=True)
    dump_json(path / "run.json", {"run_id": path.name, "reference_ms": 1.0, "command": "python -m bench all --detectors ...",
                                  "profile": "quick", "environment": {"python": "3.x", "git_commit": "abc123"}})  # fmt: skip
    for name, noise in noise_of.items():
        def build(**kw):
            if noise is None:
                raise RuntimeError("CUDA out of memory. Tried to allocate 3 GiB")
            return NoisyGroundTruth(list(ds.categories.names), ds, root, noise=noise, **{k: v for k, v in kw.items() if k != "weights"})

        weights = "random" if name.startswith("random") else None
        run_unit(UnitSettings(dataset="synthetic-coco", detector=name, weights=weights, speed_seconds=0.05, max_images=12),
                 ds, root, COCO, path, {"test": True}, build=build, log=lambda m: None)  # fmt: skip
    return path


def open_page(playwright, html: Path, width: int = 1280):
    """(browser, page showing ``html`` in a ``width`` px wide window, list collecting its console errors and page errors)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(html.as_uri())
    return browser, page, errors


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    ds = prepare_synthetic("coco", base / "cache")
    root = image_root(ds)
    a = make_run(base / "run-a", ds, root, {"noisy-good": 0.03, "noisy-bad": 0.3, "random-init": 0.5, "broken": None})
    b = make_run(base / "run-b", ds, root, {"noisy-good": 0.25, "noisy-bad": 0.3, "random-init": 0.5, "broken": None})
    return a, b


def test_report_files_and_leaderboard(runs, tmp_path):
    import pandas as pd

    out = render_run(runs[0], tmp_path / "rep")
    html = out.read_text()
    assert html.count("* plotly.js v") == 1  # plotly.js embedded once
    assert "<script src" not in html and "<link" not in html  # nothing fetched: opens offline
    assert "random weights: speed only" in html and "failed: out of memory" in html
    assert "Speed only, random weights" in html  # random-weight units get their own table, with no AP column
    main = html[html.index('id="table-'):html.index('id="speed-')]
    assert "random-init" not in main and "noisy-good" in main
    df = pd.read_csv(tmp_path / "rep" / "leaderboard.csv")
    assert set(df["detector"]) == {"noisy-good", "noisy-bad", "random-init", "broken"}
    assert df.loc[df["detector"] == "random-init", "AP"].isna().all()  # never an AP for random weights
    assert df.loc[df["detector"] == "noisy-good", "AP"].notna().all()
    md = (tmp_path / "rep" / "leaderboard.md").read_text()
    assert md.startswith("| dataset |") and "noisy-good" in md


@pytest.mark.skipif(not CHROMIUM and not os.environ.get("DETBENCH_REQUIRE_BROWSER"), reason="chromium is not installed here (CI installs it)")
def test_report_in_headless_chromium(runs, tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    assert CHROMIUM, "DETBENCH_REQUIRE_BROWSER is set but chromium is missing"
    out = render_run(runs[0], tmp_path / "rep")
    compare = render_compare(runs[0], runs[1], tmp_path / "cmp")
    shots = Path(os.environ.get("DETBENCH_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser, page, errors = open_page(p, out)
        page.wait_for_function("document.querySelectorAll('.plot').length > 0 && "
                               "[...document.querySelectorAll('.plot')].filter(d => !d.closest('details')).every(d => d.querySelector('svg.main-svg'))",
                               timeout=30000)  # fmt: skip
        plots = page.eval_on_selector_all(".plot", "ds => ds.map(d => [d.id, !!d.querySelector('svg.main-svg'), !!d.closest('details')])")
        assert len(plots) >= 8 and all(ok for _, ok, collapsed in plots if not collapsed), plots
        assert not any(ok for _, ok, collapsed in plots if collapsed)  # collapsed per-detector plots are drawn on opening
        page.click("details.detector > summary")
        page.wait_for_function("document.querySelector('details.detector .plot svg.main-svg')", timeout=30000)
        table = "table.leaderboard:not(.speed-only)"
        col = page.eval_on_selector_all(f"{table} tr.titles th", "hs => hs.map(h => h.textContent.trim())").index("AP")

        def ap_column():
            return page.eval_on_selector_all(f"{table} tbody tr", f"rs => rs.map(r => r.cells[{col}].dataset.value)")

        page.click(f"{table} tr.titles th >> nth={col}")
        asc = [float(v) for v in ap_column() if v]
        assert asc == sorted(asc) and len(asc) == 2  # the two scored units; random weights are in the speed-only table
        page.click(f"{table} tr.titles th >> nth={col}")
        desc = [float(v) for v in ap_column() if v]
        assert desc == sorted(desc, reverse=True)
        options = page.eval_on_selector_all(".class-select option", "os => os.map(o => o.value)")
        page.select_option(".class-select", options[-1])
        assert page.eval_on_selector(".class-select", "s => s.value") == options[-1]
        page.screenshot(path=str(shots / "report.png"), full_page=True)
        page.goto(compare.as_uri())
        assert page.locator("tr.regression").count() >= 1  # noisy-good got worse in run B
        page.screenshot(path=str(shots / "compare.png"), full_page=True)
        browser.close()
    assert errors == []
    assert (shots / "report.png").stat().st_size > 10000


@pytest.fixture(scope="module")
def mask_run(tmp_path_factory):
    """A run of one unit with masks (the test-only noisy ground truth with masks) on the embedded COCO subset."""
    from bench.data.catalog import load_dataset
    from tests.noisy_masks import NoisyMasks

    ds, root, _ = load_dataset("coco-val2017-mini")
    run = tmp_path_factory.mktemp("report-masks") / "run-masks"
    run.mkdir()
    dump_json(run / "run.json", {"run_id": run.name, "reference_ms": 1.0, "command": "python -m bench all", "environment": {}})

    def build(**kw):
        return NoisyMasks(list(ds.categories.names), ds, root, noise=0.1, **{k: v for k, v in kw.items() if k != "weights"})

    rec = run_unit(UnitSettings(dataset="coco-val2017-mini", detector="noisy-masks", max_images=6, speed_seconds=0.05), ds, root, COCO,
                   run, {}, build=build, log=lambda m: None)  # fmt: skip
    return run, rec


def test_report_shows_mask_ap_beside_box_ap(runs, mask_run, tmp_path):
    """A unit with masks: mask AP columns beside the box AP ones (leaderboard, CSV, Markdown), mask
    PR curves, per-class mask AP and a per-class mask PR selector; a box-only run has none of them."""
    import pandas as pd

    run, rec = mask_run
    out = render_run(run, tmp_path / "rep")
    html = out.read_text()
    df = pd.read_csv(tmp_path / "rep" / "leaderboard.csv")
    row = df.iloc[0]
    assert abs(row["mask_AP"] - rec["metrics_segm_summary"]["AP"]) < 1e-12 and abs(row["AP"] - rec["metrics_summary"]["AP"]) < 1e-12
    assert row["mask_AP"] != row["AP"]
    cols = list(df.columns)
    assert cols.index("AP") < cols.index("mask_AP") < cols.index("latency_p50_ms")
    assert "mask_AP" in (tmp_path / "rep" / "leaderboard.md").read_text()
    main = html[html.index('id="table-'):]
    assert "data-col=\"mask_AP\">mask AP</th>" in main and f">{100 * row['mask_AP']:.1f}<" in main
    for plot in ("pr_mask_0_5", "pr_mask_0_75", "heatmap_mask", "class-mask"):
        assert f'id="plot-coco-val2017-mini-{plot}"' in html
    assert html.count('class="class-select"') == 2  # box and mask per-class PR selectors
    box_only = pd.read_csv(render_run(runs[0], tmp_path / "rep-box").parent / "leaderboard.csv")
    assert not any(c.startswith("mask_") for c in box_only.columns)


@pytest.mark.skipif(not CHROMIUM and not os.environ.get("DETBENCH_REQUIRE_BROWSER"), reason="chromium is not installed here (CI installs it)")
def test_mask_report_in_headless_chromium(mask_run, tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    out = render_run(mask_run[0], tmp_path / "rep")
    with sync_playwright() as p:
        browser, page, errors = open_page(p, out)
        page.wait_for_function("[...document.querySelectorAll('.plot')].filter(d => !d.closest('details')).every(d => d.querySelector('svg.main-svg'))",
                               timeout=30000)  # fmt: skip
        selector = "select[data-target$='-class-mask']"
        options = page.eval_on_selector_all(selector + " option", "os => os.map(o => o.value)")
        page.select_option(selector, options[-1])
        title = page.eval_on_selector("#plot-coco-val2017-mini-class-mask", "d => d.querySelector('.gtitle').textContent")
        assert title.startswith("mask PR curve: " + options[-1]) and "mask IoU 0.5" in title
        browser.close()
    assert errors == []
