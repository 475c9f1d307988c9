"""The report of a 22-unit run, checked in headless Chromium at 1,400 px: the leaderboard's key
columns are in view, every chart's labels lie inside its box, every speed/accuracy point carries
its name (random-weight ones marked "published"), the navigation links resolve, and each best-F1
star lies on its drawn PR curve (in the figure's data and in the drawn SVG).

The run: the two embedded ONNX detectors (yolox_nano, nanodet_m: real weights) on 10 images of
the embedded COCO subset, and 20 random-weight units named after registered detectors with a
published AP, timed on a test-only detector that sleeps a set time (so the latencies spread over
a decade as real ones do, in a few seconds). Screenshots go to $DETBENCH_SCREENSHOTS when set.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jinja2")
pytest.importorskip("pandas")
pytest.importorskip("plotly")
pytest.importorskip("onnxruntime")

from bench.data.catalog import load_dataset  # noqa: E402
from bench.jsonio import dump_json  # noqa: E402
from bench.protocols import COCO  # noqa: E402
from bench.report.render import render_run  # noqa: E402
from bench.run.unit import UnitSettings, run_unit  # noqa: E402
from detectors.base import Batch, Detections, Detector  # noqa: E402
from detectors.registry import REGISTRY  # noqa: E402
from tests.test_report import CHROMIUM, open_page  # noqa: E402

WIDTH = 1400
REAL = ("yolox_nano", "nanodet_m")
KEY_COLUMNS = ("detector", "AP", "AP50", "latency_p50_ms", "latency_p90_ms", "fps_batch1", "params_m")
needs_browser = pytest.mark.skipif(not CHROMIUM and not os.environ.get("DETBENCH_REQUIRE_BROWSER"), reason="chromium is not installed here (CI installs it)")


class Sleeper(Detector):
    """TEST-ONLY: no detections, ``delay_ms`` of sleep per forward (a stand-in for a network's time)."""

    family = "test-only-sleeper"

    def __init__(self, classes, delay_ms: float = 1.0, **common):
        super().__init__(classes, **common)
        self.delay_ms = delay_ms

    def preprocess(self, images):
        return Batch(None, [im.shape[:2] for im in images])

    def forward(self, batch):
        time.sleep(self.delay_ms / 1000)

    def postprocess(self, raw, batch):
        return [Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64)) for _ in batch.sizes]


def random_names(n: int) -> list[str]:
    """``n`` registered detectors with a published COCO box AP (the chart places them by it)."""
    names = [k for k, (_, kw) in REGISTRY.items() if (kw.get("published") or {}).get("box_map") and k not in REAL]
    assert len(names) >= n
    return names[:n]


@pytest.fixture(scope="module")
def big_run(tmp_path_factory):
    ds, root, _ = load_dataset("coco-val2017-mini")
    run = tmp_path_factory.mktemp("report-big") / "run-big"
    run.mkdir()
    randoms = random_names(20)
    dump_json(run / "run.json", {"run_id": run.name, "reference_ms": 1.0, "command": "python -m bench all", "profile": "quick", "datasets": [ds.name],
                                 "detectors": [*REAL, *randoms], "environment": {"python": "3.x", "git_commit": "abc123", "packages": {"numpy": "2"}}})  # fmt: skip
    for det in REAL:
        run_unit(UnitSettings(dataset=ds.name, detector=det, max_images=10, speed_seconds=0.05), ds, root, COCO, run, {}, log=lambda m: None)
    for i, det in enumerate(randoms):
        delay = float(np.geomspace(2, 40, len(randoms))[i])

        def build(delay=delay, **kw):
            return Sleeper(list(ds.categories.names), delay_ms=delay, **{k: v for k, v in kw.items() if k != "weights"}, weights="random")

        run_unit(UnitSettings(dataset=ds.name, detector=det, weights="random", max_images=2, speed_seconds=0.05, accuracy=False),
                 ds, root, COCO, run, {}, build=build, log=lambda m: None)  # fmt: skip
    return run, randoms


def test_big_run_report_parts(big_run, tmp_path):
    """Without a browser: every unit is on the page, the random-weight ones at their published AP,
    the environment as a table, every registered detector that did not run listed with why."""
    run, randoms = big_run
    html = render_run(run, tmp_path / "rep").read_text()
    assert "<pre>" not in html and 'id="environment"' in html and "packages.numpy" in html
    not_run = html[html.index('id="not-run"') : html.index('id="provenance"')]
    for name in REGISTRY:
        assert (f"<td class=\"text\">{name}</td>" in not_run) == (name not in (*REAL, *randoms)), name
    assert "needs a weights file" in not_run  # the ONNX entries without official weights
    assert html.count('<details class="detector"') == 2  # one collapsed block per scored detector
    assert "published AP (full val2017), speed measured here" in html
    units = html[html.index('id="units"') :]
    assert "Settings shared by every unit: <code>dataset=coco-val2017-mini," in html and "device=cpu" not in units  # said once, above
    assert units.count("max_images=2") == len(randoms) and units.count("max_images=10") == len(REAL)  # each unit's own


@needs_browser
def test_big_report_in_headless_chromium(big_run, tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    run, randoms = big_run
    out = render_run(run, tmp_path / "rep")
    shots = Path(os.environ.get("DETBENCH_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser, page, errors = open_page(p, out, WIDTH)
        page.wait_for_function("[...document.querySelectorAll('.plot')].filter(d => !d.closest('details')).every(d => d.querySelector('svg.main-svg'))",
                               timeout=30000)  # fmt: skip
        page.screenshot(path=str(shots / "report-big-top.png"))

        # the leaderboard's key columns, in both tables, inside the 1,400 px window; no sideways page scroll
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        for table in ("table.leaderboard:not(.speed-only)", "table.leaderboard.speed-only"):
            edges = page.eval_on_selector_all(f"{table} tr.titles th", "hs => hs.map(h => [h.dataset.col, h.getBoundingClientRect().left, h.getBoundingClientRect().right])")
            key = [(c, left, right) for c, left, right in edges if c in KEY_COLUMNS or c == "published_AP"]
            assert {c for c, _, _ in key} >= set(KEY_COLUMNS) - ({"AP", "AP50"} if "speed-only" in table else set()), key
            assert all(0 <= left and right <= WIDTH for _, left, right in key), key

        widest = page.evaluate("Math.max(...[...document.querySelectorAll('td')].map(td => td.getBoundingClientRect().width))")
        assert widest < WIDTH - 40, widest  # provenance and notes wrap: no cell wider than the page (main: 4,444 px)

        # nav links resolve
        hrefs = page.eval_on_selector_all("nav a", "as => as.map(a => a.getAttribute('href'))")
        assert len(hrefs) >= 6
        for h in hrefs:
            assert h.startswith("#") and page.evaluate(f"!!document.getElementById({h[1:]!r})"), h

        # the speed/accuracy chart: every point named; random-weight ones marked published
        chart = "#plot-coco-val2017-mini-speed_accuracy"
        labels = page.eval_on_selector_all(f"{chart} .textpoint text", "ts => ts.map(t => t.textContent)")
        markers = page.eval_on_selector_all(f"{chart} .scatterlayer .points path", "ps => ps.length")
        assert markers == len(labels) == len(REAL) + len(randoms), (markers, labels)
        assert {f"{n} (published)" for n in randoms} | set(REAL) == set(labels)
        assert "published AP (full val2017), speed measured here" in page.eval_on_selector(chart, "d => d.textContent")

        # the budget control names the best AP within the budget
        page.fill("input.budget", "1000")
        assert page.eval_on_selector(".budget-answer", "e => e.textContent").startswith("Under 1000 ms: ")

        # open every per-detector block and the analysis: their plots draw on opening
        page.eval_on_selector_all("details", "ds => ds.forEach(d => { d.open = true; })")
        page.wait_for_function("[...document.querySelectorAll('.plot')].every(d => d.querySelector('svg.main-svg'))", timeout=30000)
        options = page.eval_on_selector_all(".class-select option", "os => os.map(o => o.value)")

        # every chart's text inside its box
        outside = page.evaluate(LABELS_OUTSIDE)
        assert outside == [], outside[:10]

        # best-F1 stars on their curves: the pooled charts, and the per-class chart for each class
        for cls in options[:25]:
            page.select_option(".class-select", cls)
            bad = page.evaluate(STARS_OFF_CURVE)
            assert bad == [], (cls, bad[:5])
        page.screenshot(path=str(shots / "report-big.png"), full_page=True)
        browser.close()
    assert errors == []


# Each plot's visible SVG text whose box leaves the plot's box (1 px of slack), as [plot id, text, rect].
LABELS_OUTSIDE = """() => {
  const out = [];
  document.querySelectorAll('.plot').forEach(div => {
    const box = div.getBoundingClientRect();
    div.querySelectorAll('svg text').forEach(t => {
      const r = t.getBoundingClientRect();
      if (!t.textContent.trim() || r.width === 0 || getComputedStyle(t).visibility === 'hidden' || t.closest('[style*="opacity: 0"]')) return;
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)
        out.push([div.id, t.textContent, [r.left, r.top, r.right, r.bottom].map(Math.round), [box.left, box.top, box.right, box.bottom].map(Math.round)]);
    });
  });
  return out;
}"""

# Each PR plot's best-F1 stars that are not (a) a point of their curve's data and (b) within 1.5 px of
# the drawn line (the star's centre against the line's SVG path, both in the plot's own coordinates).
STARS_OFF_CURVE = """() => {
  const bad = [];
  document.querySelectorAll('.plot').forEach(div => {
    const data = div.data || [];
    data.forEach((t, i) => {
      if (!t.name || !t.name.endsWith(' best F1')) return;
      const line = data.findIndex(u => u.name === t.name.slice(0, -' best F1'.length) && u.mode === 'lines');
      const L = data[line];
      if (!L || !L.x.some((x, j) => x === t.x[0] && L.y[j] === t.y[0])) { bad.push([div.id, t.name, 'not a data point']); return; }
      const traces = div.querySelectorAll('.scatterlayer .trace');
      const d = traces[line].querySelector('path.js-line').getAttribute('d');
      const pts = d.replace(/^M/, '').split(/L|M/).map(s => s.split(',').map(Number));
      const star = traces[i].querySelector('.points path').getAttribute('transform').match(/translate\\(([-\\d.e]+),\\s*([-\\d.e]+)\\)/);
      const sx = +star[1], sy = +star[2];
      let best = Infinity;
      for (let k = 0; k + 1 < pts.length; k++) {
        const [ax, ay] = pts[k], [bx, by] = pts[k + 1], vx = bx - ax, vy = by - ay, l2 = vx * vx + vy * vy;
        const u = l2 ? Math.max(0, Math.min(1, ((sx - ax) * vx + (sy - ay) * vy) / l2)) : 0;
        best = Math.min(best, Math.hypot(sx - ax - u * vx, sy - ay - u * vy));
      }
      if (pts.length === 1) best = Math.hypot(sx - pts[0][0], sy - pts[0][1]);
      if (!(best <= 1.5)) bad.push([div.id, t.name, 'drawn ' + best.toFixed(2) + ' px off']);
    });
  });
  return bad;
}"""
