"""The review site (``guardian serve``): the morning review page, share links, the JSON
API and the zone editor, on Starlette served by uvicorn.

``server`` assembles and serves it; ``site`` (HTML pages), ``api`` (``/api/v1``) and
``zone_pages`` (the zone editor) are its routes; ``http`` reads requests and sends files,
``guard`` refuses what no route should see and adds the security headers, ``access``
checks sessions, Origin and CSRF, ``auth`` holds passwords and signed tokens, ``state``
the site's state, ``queries`` what the pages show and ``pages`` their HTML (templates).
"""
