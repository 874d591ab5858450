"""The upload page: certificate files into a store, through the upload check,
answered with the import report (nothing is redirected: the report is the page)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from certwarden.errors import BusyError, NotFoundError, ParseBudgetError
from certwarden.interfaces.web.actions import MAX_UPLOAD_BYTES, import_upload
from certwarden.interfaces.web.context import Admin, Ctx
from certwarden.interfaces.web.pages.forms import FormPage
from certwarden.interfaces.web.rendering import form_values

__all__ = ["router"]

router = APIRouter()

UPLOAD = FormPage(
    "upload.html",
    "Upload certificates",
    "/certificates/upload",
    crumbs=(("Certificates", "/certificates"),),
)


@router.get("/certificates/upload", response_class=HTMLResponse)
def upload_form(request: Request, ctx: Ctx, who: Admin) -> Response:
    return UPLOAD.show(
        request,
        ctx,
        who,
        stores=ctx.app.inventory.list_stores(),
        store=request.query_params.get("store", "tomcat-trust"),
        lsc=False,
        report=None,
    )


@router.post("/certificates/upload", response_class=HTMLResponse)
async def upload(
    request: Request,
    ctx: Ctx,
    who: Admin,
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    form = form_values(await request.form())
    store = form.get("store", "")
    errors: dict[str, str] = {}
    contents: list[tuple[str, bytes]] = []
    size = 0
    for item in files or []:
        data = await item.read(MAX_UPLOAD_BYTES + 1)
        size += len(data)
        if item.filename or data:
            contents.append((item.filename or "upload", data))
    if not contents:
        errors["files"] = "choose at least one file"
    elif size > MAX_UPLOAD_BYTES:
        errors["files"] = f"the files add up to more than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB"
    report = None
    status = 200
    if not errors:
        try:
            report = await run_in_threadpool(
                import_upload,
                ctx.app,
                who,
                contents,
                store,
                form.get("password") or None,
                form.get("lsc") == "true",
                form.get("force") == "true",
            )
        except NotFoundError as exc:
            errors["store"] = str(exc)
        except ParseBudgetError as exc:
            errors["files"] = str(exc)
        except BusyError as exc:
            errors["files"] = str(exc)
            status = 503
    if status == 200 and (
        errors or (report is not None and report.rejected and not report.imported)
    ):
        status = 422
    stores = await run_in_threadpool(ctx.app.inventory.list_stores)
    return UPLOAD.show(
        request,
        ctx,
        who,
        errors=errors,
        status_code=status,
        stores=stores,
        store=store,
        lsc=form.get("lsc") == "true",
        report=report,
    )
