"""UCP (Universal Commerce Protocol) order lifecycle: the pure rules behind the webhooks to Google.

``square_order`` reads a Square order into typed records, ``entity`` builds the UCP order entity
(version 2026-04-08, ucp-sdk models), ``pushes`` decides which pushes are due and with which
``Webhook-Id``, ``http_signatures`` signs and verifies them (RFC 9421, ES256), ``profile`` builds the
merchant's ``/.well-known/ucp`` document. No I/O: files, clocks and HTTP stay with the callers.
"""
