# SPDX-License-Identifier: MIT
"""bench/plot.sh, which `make bench` runs on its CSV: one bar per row
with a ratio, labelled with the workload and the ratio; rows without a
ratio (the machine's memcpy ceiling) left out."""

import os
import shutil
import subprocess

import pytest

from conftest import REPO

PLOT = os.path.join(REPO, "bench", "plot.sh")
CSV = """workload,unit,tmpfs,shmemfs,ratio
seq write 256M/1M fresh mount,MB/s,2767,311,0.112
20k files 1 dir stat,ops/s,351972,264906,0.753
memcpy 1G/1M (machine ceiling),GB/s,5.9,5.9,
lib 20k files unlink,ops/s,237245,4033000,17.000
"""


@pytest.fixture(autouse=True)
def _gnuplot():
    if not shutil.which("gnuplot"):
        pytest.skip("gnuplot is not installed (scripts/install-deps.sh)")


def test_chart_of_ratios(tmp_path):
    csv = tmp_path / "latest.csv"
    csv.write_text(CSV)
    r = subprocess.run([PLOT, str(csv)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    svg = (tmp_path / "latest.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    for label in ("seq write 256M/1M fresh mount", "20k files 1 dir stat",
                  "lib 20k files unlink", "0.11", "0.75", "17.00"):
        assert label in svg, label
    assert "memcpy" not in svg


def test_no_ratio_is_an_error(tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text("workload,unit,tmpfs,shmemfs,ratio\nmemcpy,GB/s,1,1,\n")
    r = subprocess.run([PLOT, str(csv), str(tmp_path / "x.svg")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "no ratios" in r.stderr
