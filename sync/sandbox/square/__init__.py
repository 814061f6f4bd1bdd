"""Square Orders/Payments/Locations emulator.

``models`` holds state and rules, ``money`` the price maths, ``routes`` the HTTP side.
"""

from sync.sandbox.square.models import SquareBackend, SquareError
from sync.sandbox.square.routes import error_response, make_app

__all__ = ["SquareBackend", "SquareError", "error_response", "make_app"]
