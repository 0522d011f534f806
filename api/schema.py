"""OpenAPI details drf-spectacular cannot infer: bearer auth, UUID path ids, and the error answers."""

from __future__ import annotations

from typing import Any, Literal, cast

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_basic_type, build_parameter_type
from drf_spectacular.types import OpenApiTypes

from api.serializers import ErrorOutput

# Validation errors: {"field": ["message", ...]} (or {"detail": "..."} for a malformed body).
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": "Validation errors keyed by field name (non_field_errors for the whole request).",
    "additionalProperties": {},
}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer", "description": "An API token created by a clinic admin."}


class ApiAutoSchema(AutoSchema):
    def _resolve_path_parameters(self, variables: list[str]) -> list[dict[str, Any]]:
        # Paths take <str:...> so that a malformed id answers a JSON 404 from the view, not Django's
        # HTML one; every id in a path is a UUID all the same.
        # build_basic_type answers None only for OpenApiTypes.NONE.
        return [
            build_parameter_type(
                name=v, location="path", schema=cast(dict[str, Any], build_basic_type(OpenApiTypes.UUID))
            )
            for v in variables
        ]

    def _get_response_bodies(self, direction: Literal["request", "response"] = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        extra: dict[str, Any] = {"401": ErrorOutput, "403": ErrorOutput, "404": ErrorOutput}
        takes_input = self.method in ("POST", "PATCH", "PUT") or getattr(self.view, "query_serializer", None)
        if takes_input or self._is_list_view():
            extra["400"] = VALIDATION_ERROR_SCHEMA
        for code, serializer in extra.items():
            responses.setdefault(code, self._get_response_for_code(serializer, code, direction=direction))
        return responses
