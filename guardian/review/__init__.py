"""The morning review page (``guardian serve``), ``guardian review`` and share links."""
