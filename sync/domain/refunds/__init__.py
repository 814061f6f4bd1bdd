"""Returns and refunds between Google and Square: pure rules, no I/O (issue 15, docs/refunds.md).

* ``records``: the API objects the rules read (Google ``refunds[]`` and ``orderreturns``, Square
  return orders), parsed into typed records, and per-order totals reports can share.
* ``rules``: what is configurable (reason maps, what marks a refund as shipping).
* ``square_to_google``: a Square refund -> the Google mutations that report it, or why not.
* ``google_to_square``: a Google order's refunds -> the RefundPayment Square must record, or why not.
* ``returns``: Google customer returns paired with the store's Square returns; the open ones.
* ``refusals``: what a rejection by either side means (retry with the same key, or report).
"""
