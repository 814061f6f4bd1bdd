"""`ordersync init [DIR]` as a new user runs it: from the packaged example, never overwriting."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from sync.config import load_settings
from sync.resources import example_config_text

REPO = Path(__file__).resolve().parents[2]


def ordersync(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSYNC_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "sync", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_init_lays_out_a_directory_from_the_packaged_example(tmp_path: Path) -> None:
    proc = ordersync(tmp_path, "init", "shop")
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / "shop"
    config = root / "config" / "ordersync.toml"
    assert config.read_text(encoding="utf-8") == example_config_text()
    assert load_settings(config, environ={}).source == str(config)  # valid as written
    for folder in ("feeds", "state", "reports"):
        assert (root / folder).is_dir()
    assert stat.S_IMODE((root / "state").stat().st_mode) == 0o700
    assert "created" in proc.stdout and str(config.relative_to(tmp_path)) in proc.stdout
    # The next three commands, run from the new directory.
    lines = proc.stdout.splitlines()
    start = lines.index("next:")
    steps = lines[start + 1 :]
    assert len(steps) == 3
    assert "config/ordersync.toml" in steps[0]
    assert "cd shop && ordersync doctor" in steps[1]
    assert "cd shop && ordersync run" in steps[2]


def test_init_never_overwrites_and_says_what_it_kept(tmp_path: Path) -> None:
    config = tmp_path / "config" / "ordersync.toml"
    config.parent.mkdir()
    config.write_text('[google]\nmerchant_id = "42"\n', encoding="utf-8")
    (tmp_path / "state").mkdir(mode=0o755)
    os.chmod(tmp_path / "state", 0o755)
    (tmp_path / "state" / "ordersync.db").write_bytes(b"mine")

    proc = ordersync(tmp_path, "init")
    assert proc.returncode == 0, proc.stderr
    assert config.read_text(encoding="utf-8") == '[google]\nmerchant_id = "42"\n'
    assert (tmp_path / "state" / "ordersync.db").read_bytes() == b"mine"
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o755  # not ours to change
    out = proc.stdout
    assert "kept     config/ordersync.toml" in out
    assert "kept     state" in out and "chmod 700" in out  # the hint, not the change
    assert "created  feeds" in out and "created  reports" in out
    assert "cd " not in out  # DIR is where we are


def test_init_refuses_when_a_folder_is_a_file_and_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "reports").write_text("not a folder", encoding="utf-8")
    proc = ordersync(tmp_path, "init")
    assert proc.returncode == 2
    assert "reports exists and is not a folder" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]
