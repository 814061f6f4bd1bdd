"""Files shipped inside the package (and so inside the wheel): the documented example configuration."""

from __future__ import annotations

from importlib.resources import files

EXAMPLE_CONFIG = "ordersync.example.toml"


def example_config_text() -> str:
    """The documented example configuration, as installed with the package."""
    return files(__name__).joinpath(EXAMPLE_CONFIG).read_text(encoding="utf-8")
