"""The wheel carries what `ordersync init` needs: the documented example configuration."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_built_and_installed_wheel_contains_the_example_config(tmp_path: Path) -> None:
    # Build from a copy: a build in the checkout would leave build/ and *.egg-info behind.
    source = tmp_path / "src"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", ".", "-w", str(wheels)],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("ordersync-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert "sync/resources/ordersync.example.toml" in archive.namelist()

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sync.resources as r; print(r.__file__); print(r.example_config_text())",
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.startswith(str(target))  # the installed copy, not the checkout
    assert "[google]" in shown and "merchant_id" in shown
    assert (source / "sync" / "resources" / "ordersync.example.toml").read_text(encoding="utf-8") in shown
