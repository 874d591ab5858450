"""API: trust stores (list, create, delete, empty)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from certwarden.interfaces.web import schemas
from certwarden.interfaces.web.api.common import Limit, Offset, json_response, page, problems
from certwarden.interfaces.web.context import Admin, Ctx, Viewer

__all__ = ["router"]

router = APIRouter()


@router.get("/stores", response_model=schemas.StorePage, tags=["stores"])
def stores(ctx: Ctx, _who: Viewer, limit: Limit = 100, offset: Offset = 0) -> Response:
    """Trust stores with their certificate counts."""
    everything = ctx.app.inventory.list_stores()
    chosen = everything[offset : offset + limit]
    return json_response(page([s.to_json() for s in chosen], len(everything), limit, offset))


@router.post(
    "/stores",
    status_code=201,
    response_model=schemas.StoreOut,
    tags=["stores"],
    responses=problems(403, 409, 422),
)
def create_store(ctx: Ctx, who: Admin, body: schemas.StoreIn) -> Response:
    """Create a trust store."""
    info = ctx.app.changes.create_store(who.actor, body.name, body.description)
    return json_response(info.to_json(), 201)


@router.delete("/stores/{name}", tags=["stores"], responses=problems(403, 404, 409))
def delete_store(
    ctx: Ctx,
    who: Admin,
    name: str,
    force: Annotated[bool, Query(description="Also delete the certificates it holds.")] = False,
) -> Response:
    """Delete a trust store (one holding certificates only with ``force``).

    The appliance's built-in stores and a store a setting names (the
    trusted-responder store) cannot be deleted (409); empty them instead.
    """
    removed = ctx.app.changes.delete_store(who.actor, name, force=force)
    return json_response({"deleted": name, "certificates_removed": removed})


@router.delete("/stores/{name}/certificates", tags=["stores"], responses=problems(403, 404))
def empty_store(ctx: Ctx, who: Admin, name: str) -> Response:
    """Empty a trust store: delete every certificate it holds (built-in stores too)."""
    removed = ctx.app.changes.empty_store(who.actor, name)
    return json_response({"emptied": name, "certificates_removed": removed})
