"""Google's UCP order-webhook receiver: ``models`` (state and rules), ``routes`` (HTTP)."""
