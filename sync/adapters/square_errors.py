"""What a Square call can raise, and where its token comes from, without the SDK.

Kept apart from ``square_gateway`` so that the cycle, the runner and the steps can name these
while the ``squareup`` SDK and httpx (about 0.1 s of every start) load only when ``[square]`` is on.
"""

from __future__ import annotations

TOKEN_ENV = "SQUARE_ACCESS_TOKEN"  # noqa: S105 - the variable name, not a secret


class SquareCredentialsError(Exception):
    """No Square access token: the message says what to set."""


class SquareApiError(Exception):
    def __init__(
        self,
        *,
        status: int | None,
        code: str,
        category: str,
        detail: str,
        field: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        method: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.category = category
        self.detail = detail
        self.field = field
        self.retryable = retryable
        self.retry_after = retry_after
        self.method = method
        where = f" (field {field})" if field else ""
        super().__init__(
            f"Square {method or 'call'} failed: {status or 'no response'} {code}: {detail}{where}"
        )

    @property
    def is_auth(self) -> bool:
        """Square refused the access token itself: an operator fixes SQUARE_ACCESS_TOKEN, no retry helps."""
        return self.status == 401 or self.category == "AUTHENTICATION_ERROR"
