"""REST error bodies: one schema in the OpenAPI document, used by every router."""

from __future__ import annotations

from ilvb.config import load_settings
from ilvb.server.app import create_app


def test_openapi_declares_the_error_body_once_and_every_error_response_uses_it() -> None:
    spec = create_app(load_settings()).openapi()
    schemas = spec["components"]["schemas"]
    assert [name for name in schemas if name.startswith("Error")] == ["ErrorBody", "ErrorDetail"]
    assert not [name for name in schemas if "__" in name]  # no module-qualified duplicates
    refs = {
        response["content"]["application/json"]["schema"]["$ref"]
        for path in spec["paths"].values()
        for operation in path.values()
        for status, response in operation["responses"].items()
        if status.startswith(("4", "5")) and status != "422"
    }
    assert refs == {"#/components/schemas/ErrorBody"}
