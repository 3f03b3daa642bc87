"""HTTP parameter helpers shared by every router: comma-separated code lists, ISO dates,
entity tags (ETag, If-Match, If-None-Match), JSON bodies, and refusing unknown query
parameters."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator

from app.core.errors import Problem, validation_problem

ENTITY_TAG_RE = re.compile(r'(?:W/)?"[\x21\x23-\x7e]*"')
ISO_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
ISO_TIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:?\d{2})"
)
BIGINT_MAX = 2**63 - 1


# ---- values -------------------------------------------------------------------------------


def split_codes(value: Any) -> Any:
    """`a,b, c` (or repeated parameters, each possibly comma-separated) → ["a", "b", "c"]:
    stripped, empty items dropped, duplicates dropped in order. Other input is left to
    the field's own validation."""
    if value is None:
        return []
    parts = [value] if isinstance(value, str) else value
    if not isinstance(parts, list | tuple) or not all(isinstance(p, str) for p in parts):
        return value
    items = (item.strip() for part in parts for item in part.split(","))
    return list(dict.fromkeys(item for item in items if item))


def _iso_date(value: Any) -> Any:
    # Only the ISO form: lax parsing would take numbers as Unix timestamps.
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not ISO_DATE_RE.fullmatch(value):
        raise ValueError("must be a date YYYY-MM-DD")
    return value


def _iso_time(value: Any) -> Any:
    # Only an ISO time with its offset: lax parsing would take numbers as Unix timestamps,
    # and a time without an offset would be read in the server process's own time zone.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if not isinstance(value, str) or not ISO_TIME_RE.fullmatch(value):
        raise ValueError("must be an ISO 8601 time with offset, e.g. 2024-01-01T00:00:00Z")
    return value


def _utc_representable(value: datetime) -> datetime:
    # 0001-01-01T00:00:00+14:00 is a valid ISO time that no database timestamp can hold.
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None
    return value


# A list of codes from `?x=a,b&x=c`; each element is then checked by the item type.
Codes = Annotated[list[str], BeforeValidator(split_codes)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
UtcTime = Annotated[AwareDatetime, BeforeValidator(_iso_time), AfterValidator(_utc_representable)]


def unknown_codes(field: str, values: Iterable[str], known: Iterable[str]) -> list[dict[str, str]]:
    """An error naming `field` for each value that is not one of `known`."""
    allowed = set(known)
    return [{"field": field, "message": f"unknown value {v!r}"} for v in values if v not in allowed]


def require_known(field: str, values: Iterable[str], known: Iterable[str]) -> None:
    """422 naming `field` when any value is not one of `known`."""
    errors = unknown_codes(field, values, known)
    if errors:
        raise validation_problem(errors)


# ---- entity tags ---------------------------------------------------------------------------


def etag(version: int) -> str:
    """The strong entity tag of a resource version."""
    return f'"{version}"'


def if_match_versions(value: str | None, *, required: bool = True) -> frozenset[int] | None:
    """The versions an If-Match lists (RFC 9110, strong comparison); 428 when required and
    absent, 400 when malformed or `*` (an edit must name the version it was made on).
    Weak tags and tags that are not versions can never match, so they are left out."""
    if value is None:
        if required:
            raise Problem(
                428,
                'Send If-Match with the ETag of the version you change, e.g. If-Match: "3".',
                type_="precondition-required",
            )
        return None
    tags = [part.strip() for part in value.split(",")]
    if not all(ENTITY_TAG_RE.fullmatch(t) for t in tags):
        raise Problem(
            400,
            'If-Match must list entity tags such as "3" (the ETag of a GET).',
            type_="bad-request",
        )
    inner = (t[1:-1] for t in tags if not t.startswith("W/"))
    # Strong comparison is by the tag's characters: "01" is not the ETag "1".
    return frozenset(int(v) for v in inner if v.isdigit() and len(v) < 19 and str(int(v)) == v)


def none_match(header: str | None, tag: str | bytes) -> bool:
    """Whether an If-None-Match header names this entity tag (weak comparison), or `*`."""
    if header is None:
        return False
    wanted = tag.decode() if isinstance(tag, bytes) else tag
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or wanted in tags


# ---- bodies --------------------------------------------------------------------------------

JSON_MEDIA = ("application/json", "application/merge-patch+json")


def public_base(request: Request) -> str:
    """The base URL (no trailing slash) for absolute links in documents: BW_PUBLIC_URL when
    set, else the request's own scheme and Host."""
    configured: str | None = request.app.state.settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


def public_here(request: Request, **params: str) -> str:
    """This request's URL on the public base (public_base()), with `params` set in its query:
    the self and next links of a page."""
    url = request.url.include_query_params(**params) if params else request.url
    return public_base(request) + url.path + (f"?{url.query}" if url.query else "")


def require_json(request: Request) -> None:
    """415 unless the body is sent as JSON; a dependency of routes that let FastAPI parse
    their body (which would answer any other media type with a 422)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in JSON_MEDIA and not media.endswith("+json"):
        raise Problem(
            415,
            f"Send the body as JSON (Content-Type: application/json), not {media or 'nothing'}.",
            type_="unsupported-media-type",
        )


async def json_body(request: Request) -> Any:
    """The request's JSON body: 415 unless it is sent as JSON, 400 when it does not parse."""
    return parse_json(await json_bytes(request))


async def json_bytes(request: Request) -> bytes:
    """The request's body, unparsed: 415 unless it is sent as JSON."""
    require_json(request)
    return await request.body()


def parse_json(body: bytes) -> Any:
    """The JSON value of a body; 400 when it does not parse."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Problem(400, "The request body is not valid JSON.", type_="malformed-json") from None


# ---- unknown query parameters ---------------------------------------------------------------

_QUERY_NAMES: dict[int, dict[str, bool]] = {}


def repeatable(annotation: Any) -> bool:
    """Whether a parameter of this type takes repeats (a list, maybe optional/annotated)."""
    if get_origin(annotation) is Annotated:
        return repeatable(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return any(repeatable(a) for a in get_args(annotation) if a is not type(None))
    return get_origin(annotation) is list or annotation is list


def _query_names(dependant: Any) -> dict[str, bool]:
    """Every query parameter a route takes, and whether it may be repeated."""
    names: dict[str, bool] = {}
    for field in dependant.query_params:
        annotation = field.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for name, info in annotation.model_fields.items():
                names[info.alias or name] = repeatable(info.annotation)
        else:
            names[field.alias] = repeatable(annotation)
    for sub in dependant.dependencies:
        names.update(_query_names(sub))
    return names


async def reject_unknown_query(request: Request) -> None:
    """422 naming every query parameter the route does not take (`?provnce=PK-BA` must not
    silently return everything), and every single-valued one given twice."""
    route = request.scope.get("route")
    # Undocumented routes (the /docs pages) declare no parameters to check against.
    if not isinstance(route, APIRoute) or not route.include_in_schema or not request.query_params:
        return
    known = _QUERY_NAMES.get(id(route))
    if known is None:
        known = _QUERY_NAMES[id(route)] = _query_names(route.dependant)
    query = request.query_params
    errors = [
        {"field": name, "message": "is not a parameter of this endpoint"}
        for name in sorted(set(query) - set(known))
    ]
    errors += [
        {"field": name, "message": "takes one value; it was given more than once"}
        for name in sorted(set(query) & set(known))
        if not known[name] and len(query.getlist(name)) > 1
    ]
    if errors:
        raise validation_problem(errors)
