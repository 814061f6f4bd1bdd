"""`ordersync init [DIR]`: lay out a working directory from the packaged example configuration.

Never destroys anything: an existing file or folder is kept as it is (and reported as kept), the
configuration is published with a hard link from a temporary file, so it appears whole or not at
all and a file created meanwhile by someone else is not overwritten either.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CONFIG_FILE = Path("config/ordersync.toml")
# state/ holds the ledger (customer orders) and, for the sandbox, key files: owner-only.
FOLDERS: tuple[tuple[Path, int], ...] = (
    (Path("feeds"), 0o755),
    (Path("state"), 0o700),
    (Path("reports"), 0o755),
)
PRIVATE_FOLDER = Path("state")


class ScaffoldError(Exception):
    """DIR cannot be laid out (a file where a folder belongs, no permission); nothing was changed."""


@dataclass(frozen=True)
class ScaffoldStep:
    path: Path  # relative to the directory being laid out
    action: Literal["created", "kept"]
    note: str = ""


def scaffold(root: Path, example_config: str) -> list[ScaffoldStep]:
    """Create ``root``'s config file, feeds/, state/ (0700) and reports/ where they are missing."""
    _check_layout(root)
    steps: list[ScaffoldStep] = []
    try:
        root.mkdir(parents=True, exist_ok=True)
        for folder, mode in FOLDERS:
            steps.append(_folder(root, folder, mode))
        (root / CONFIG_FILE.parent).mkdir(exist_ok=True)
        steps.append(_config(root, example_config))
    except OSError as exc:
        raise ScaffoldError(f"cannot lay out {root}: {exc.strerror or exc} ({exc.filename or root})") from exc
    return steps


def _check_layout(root: Path) -> None:
    """Refuse before changing anything when a path that must be a folder is something else."""
    wanted = [Path("."), CONFIG_FILE.parent, *(folder for folder, _ in FOLDERS)]
    for relative in wanted:
        path = root / relative
        if path.exists() and not path.is_dir():
            raise ScaffoldError(f"{path} exists and is not a folder; move it aside or choose another DIR")
    config = root / CONFIG_FILE
    if config.exists() and not config.is_file():
        raise ScaffoldError(f"{config} exists and is not a file; move it aside")


def _folder(root: Path, folder: Path, mode: int) -> ScaffoldStep:
    path = root / folder
    try:
        path.mkdir(mode=mode)
    except FileExistsError:
        loose = stat.S_IMODE(path.stat().st_mode) & 0o077
        if folder == PRIVATE_FOLDER and loose:
            shown = oct(stat.S_IMODE(path.stat().st_mode))[2:]
            return ScaffoldStep(
                folder,
                "kept",
                f"others can read it (mode {shown}); `chmod 700 {path}` keeps the ledger private",
            )
        return ScaffoldStep(folder, "kept", "exists; left as it is")
    os.chmod(path, mode)  # mkdir's mode is filtered by the umask; these modes are the point
    return ScaffoldStep(folder, "created")


def _config(root: Path, text: str) -> ScaffoldStep:
    path = root / CONFIG_FILE
    if path.exists():
        return ScaffoldStep(CONFIG_FILE, "kept", "exists; left as it is")
    fd, tmp = tempfile.mkstemp(prefix=".ordersync.toml.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # no secrets in it (they come from the environment)
        try:
            os.link(tmp, path)  # fails if the file appeared meanwhile: never overwritten
        except FileExistsError:
            return ScaffoldStep(CONFIG_FILE, "kept", "exists; left as it is")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return ScaffoldStep(CONFIG_FILE, "created", "from the documented example; set [google] merchant_id")
