"""Content API for Shopping v2 ``orders`` emulator: ``models`` (state, rules), ``routes`` (HTTP),
``templates`` (test orders), ``discovery`` (documents, route table), ``auth`` (/token)."""
