"""The package as users install it: a built wheel carries the search spaces, and `bench list spaces` finds them."""
from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_wheel_installed_in_a_fresh_environment_lists_and_loads_the_spaces(tmp_path):
    # Built from a copy: setuptools leaves build/ and *.egg-info/ in the folder it builds.
    src, dist = tmp_path / "src", tmp_path / "dist"
    top = {"build", "runs", "data", "reports", "docs"}  # at the top only: bench/data is a package
    shutil.copytree(ROOT, src, ignore=lambda folder, names: [
        n for n in names if n.startswith(".") or n.endswith(".egg-info") or n == "__pycache__"
        or (Path(folder) == ROOT and n in top)])
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                    str(src)], check=True, capture_output=True)
    wheel = next(dist.glob("bench-*.whl"))
    assert (ROOT / "search_spaces" / "optimizers.yaml").is_file()  # the design card: spaces at the top of the repository
    assert "bench/search_spaces/optimizers.yaml" in zipfile.ZipFile(wheel).namelist()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True)
    # bench's dependencies come from this environment; bench itself only from the wheel (no .pth of ours is read).
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    where = subprocess.run([str(python), "-c", "import bench; print(bench.__file__)"], cwd=tmp_path, env=env,
                           check=True, capture_output=True, text=True).stdout
    assert where.startswith(str(site)), where
    res = subprocess.run([str(python), "-m", "bench", "list", "spaces"], cwd=tmp_path, env={**env, "COLUMNS": "200"},
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    for name in ("optimizers", "schedules", "activations", "regularizers", "losses"):
        assert f"│ {name} " in res.stdout, res.stdout
    res = subprocess.run([str(python), "-c", "from bench.search.space import load_space; "
                          "print(len(load_space('optimizers').levels))"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert res.returncode == 0 and int(res.stdout) >= 7, res.stderr
