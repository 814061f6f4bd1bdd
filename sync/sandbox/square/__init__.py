"""Square emulator: Orders, Payments, Refunds, Catalog and Locations APIs (see ``models.py``).

Per API a model holds the rules over one shared state (``state.py``); ``routes.py`` is the HTTP
side; errors have Square's JSON shape (``errors.py``).
"""

from sync.sandbox.square.errors import SquareError
from sync.sandbox.square.models import SquareBackend
from sync.sandbox.square.routes import error_response, make_app, make_sandbox_app

__all__ = ["SquareBackend", "SquareError", "error_response", "make_app", "make_sandbox_app"]
