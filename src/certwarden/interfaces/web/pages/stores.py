"""The trust stores page: the list with counts, creating a store, deleting or emptying one
(built-in stores and stores a setting names are only emptied)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from certwarden.errors import ConflictError, InputError
from certwarden.interfaces.web.context import Admin, Ctx, Viewer
from certwarden.interfaces.web.pages.forms import FormData, FormPage, Refusal
from certwarden.interfaces.web.rendering import redirect
from certwarden.services.monitor.thresholds import share_or_error

__all__ = ["router"]

router = APIRouter()

STORES = FormPage(
    "stores.html",
    "Trust stores",
    "/stores",
    context=lambda ctx: {"stores": ctx.app.inventory.list_stores()},
)


@router.get("/stores", response_class=HTMLResponse)
def stores(request: Request, ctx: Ctx, who: Viewer) -> Response:
    return STORES.show(request, ctx, who, {"name": "", "description": ""})


@router.post("/stores", response_class=HTMLResponse)
def create_store(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    name, description = form.get("name", "").strip(), form.get("description", "").strip()

    def save() -> None:
        ctx.app.changes.create_store(who.actor, name, description)

    return STORES.submit(
        request,
        ctx,
        who,
        save,
        shown={"name": name, "description": description},
        flash=f"Created store {name}.",
        refusals=(Refusal(ConflictError, 409, "name"), Refusal(InputError, 422, "name")),
    )


@router.post("/stores/{name}/threshold")
def store_threshold(request: Request, ctx: Ctx, who: Admin, name: str, form: FormData) -> Response:
    """A store's lifetime-share threshold for expiry notices: set, or cleared."""
    if form.get("action") == "clear":
        ctx.app.changes.set_store_threshold(who.actor, name, None)
        return redirect(
            request, "/stores", flash=f"Store {name}: notices start at the Notification Start Time."
        )
    try:
        share = share_or_error(form.get("lifetime_share", ""), "Lifetime share")
    except InputError as exc:
        return redirect(request, "/stores", flash=str(exc), kind="error")
    done = ctx.app.changes.set_store_threshold(who.actor, name, share)
    return redirect(
        request,
        "/stores",
        flash=f"Store {name}: notices start when less than {done['lifetime_share']} of the "
        f"lifetime remains ({done['certificates']} certificate(s) updated).",
    )


@router.post("/stores/{name}/delete")
def delete_store(request: Request, ctx: Ctx, who: Admin, name: str, form: FormData) -> Response:
    ctx.app.changes.delete_store(who.actor, name, force=form.get("force") == "true")
    return redirect(request, "/stores", flash=f"Deleted store {name}.")


@router.post("/stores/{name}/empty")
def empty_store(request: Request, ctx: Ctx, who: Admin, name: str) -> Response:
    removed = ctx.app.changes.empty_store(who.actor, name)
    return redirect(
        request, "/stores", flash=f"Emptied store {name}: {removed} certificate(s) deleted."
    )
