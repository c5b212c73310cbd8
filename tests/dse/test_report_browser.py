"""report.html as a browser shows it (issue 17): headless Chromium lays the page out and screenshots it.

The Summary's axis values were empty ``<dd></dd>``; with the floated list, labels then sat beside the
wrong numbers ("Axis rows 1,215", "Axis dataflow 0").
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from accelsim.cli import main

pytestmark = pytest.mark.needs("matplotlib")

# Measures where each summary label and its value are drawn (a test-only copy of the page; the report
# itself has no script).
MEASURE = """<script>
const out = [...document.querySelectorAll("h2 + dl > dt")].map(dt => {
  const dd = dt.nextElementSibling, a = dt.getBoundingClientRect(), b = dd.getBoundingClientRect();
  return [dt.textContent, dd.tagName, dd.textContent, a.top, b.top, a.right, b.left, b.height];
});
const pre = document.createElement("pre"); pre.id = "layout"; pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"""


def _browser(chromium: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--user-data-dir={tmp_path / 'profile'}", *args], capture_output=True, text=True,
                          timeout=120, check=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser") / "run"
    assert main(["dse", "alexnet", "--axis", "rows=8,16", "--axis", "dataflow=ws,os", "--axis",
                 "memory.dram_bytes_per_cycle=8", "-o", str(folder)]) == 0
    return folder / "report.html"


def test_each_summary_value_is_drawn_beside_its_own_label(chromium, report, tmp_path):
    page = tmp_path / "measured.html"
    page.write_text(report.read_text().replace("</body>", MEASURE + "\n</body>"))
    dom = _browser(chromium, tmp_path, "--window-size=1200,900", "--dump-dom", page.as_uri()).stdout
    layout = json.loads(re.search(r'<pre id="layout">(.*?)</pre>', dom, re.DOTALL).group(1).replace("&quot;", '"'))
    shown = {label: value for label, _, value, *_ in layout}
    assert shown == {"Workload": "alexnet", "Base architecture": "sa32", "Axis rows": "8, 16",
                     "Axis dataflow": "ws, os", "Axis memory.dram_bytes_per_cycle": "8", "Points": "4",
                     "Feasible": "4", "Infeasible": "0", "Pareto points": str(shown["Pareto points"]),
                     "Objectives (minimised)": "total_cycles, energy_pj, area_um2"}
    assert 1 <= int(shown["Pareto points"]) <= 4
    tops = []
    for label, tag, value, dt_top, dd_top, dt_right, dd_left, dd_height in layout:
        assert tag == "DD" and value and dd_height > 0, label
        assert abs(dt_top - dd_top) < 3, (label, dt_top, dd_top)  # on the label's line
        assert dd_left > dt_right, label  # to its right
        tops.append(dt_top)
    assert tops == sorted(tops) and len(set(tops)) == len(tops)  # one line each, in order


def test_the_screenshot_is_a_page_not_a_blank(chromium, report, tmp_path):
    import matplotlib.image

    shot = tmp_path / "report.png"
    _browser(chromium, tmp_path, "--window-size=1000,1400", f"--screenshot={shot}", report.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(str(shot))[..., :3]
    assert pixels.shape[:2] == (1400, 1000)
    dark = (pixels.mean(axis=2) < 0.5).mean()  # text, table rules, figure axes
    assert 0.005 < dark < 0.5, dark
    colours = {tuple(p) for p in (pixels[::7, ::7] * 255).astype(int).reshape(-1, 3)}
    assert len(colours) > 20  # text anti-aliasing, the highlighted row, the figures' points
