"""Merchant API ``ordertracking`` v1 emulator: ``models`` (state and rules), ``routes`` (HTTP)."""
