"""The JSON responses of the line's routes, written by orjson.

A listing's views run to hundreds of kilobytes (each view's volumes, each conflict's overlap
outlines): at 10⁶ stored notifications a party's listing of an 11 × 9 km box is ~210 kB, which
the standard library's encoder writes in ~4.4 ms and orjson in ~0.6 ms. The text is the same
(compact, UTF-8, keys in the order given) but for a float below 10⁻⁴, written in other digits
(`0.00001` for `1e-05`), and a float that is not finite, which orjson writes as null where the
standard library refuses it: the views' numbers come from stored documents, whose writing
refuses those (services/stored_json.py).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse as StandardJSONResponse


class JSONResponse(StandardJSONResponse):
    """Starlette's JSONResponse, rendered by orjson."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
