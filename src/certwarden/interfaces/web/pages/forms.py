"""Form plumbing for the pages: the CSRF check every state-changing page
request passes, the submitted form as a plain dictionary, and
:class:`FormPage`, the one way a page shows a form, shows it again with each
error beside its field, or saves it and redirects (post/redirect/get).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from certwarden.errors import CertwardenError, InvalidFieldsError
from certwarden.interfaces.web.context import NotSignedIn, WebContext, principal_of
from certwarden.interfaces.web.rendering import form_values, redirect, render
from certwarden.interfaces.web.security import Principal

__all__ = ["FormData", "FormPage", "Refusal", "csrf_protect", "int_param"]

T = TypeVar("T")


async def csrf_protect(request: Request) -> None:
    """Every POST to a page must carry the session's CSRF token."""
    if request.method in {"GET", "HEAD", "OPTIONS"}:
        return
    principal = principal_of(request)
    if principal is None:
        raise NotSignedIn()
    form = await request.form()
    token = form.get("csrf_token")
    ctx: WebContext = request.app.state.ctx
    if principal.via != "session" or not ctx.codec.check_csrf(
        principal.nonce, token if isinstance(token, str) else None
    ):
        raise HTTPException(
            403,
            "this form has expired or did not come from certwarden (CSRF check failed); "
            "reload the page and try again",
        )


async def _form(request: Request) -> dict[str, str]:
    return form_values(await request.form())


FormData = Annotated[dict[str, str], Depends(_form)]


def int_param(value: str | None, default: int, low: int, high: int) -> int:
    """A whole-number query parameter, clamped to ``low..high`` (``default`` when unreadable)."""
    if value in (None, ""):
        return default
    text = value.strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        return default
    return min(max(int(text), low), high)


MAX_ROW_ID = 2**63 - 1


def row_id_param(value: str | None, name: str) -> int | None:
    """An optional row ID in a query parameter; an unusable one is refused by name
    (422), never handed to the database (a 30-digit number overflows it)."""
    if value in (None, ""):
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_ROW_ID:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise InvalidFieldsError({name: f"{shown!r} is not a number from 1 to {MAX_ROW_ID}"})
    return int(text)


@dataclass(frozen=True)
class Refusal:
    """An error a form shows beside its fields instead of failing the request.

    Attributes:
        error: the error class (subclasses included).
        status_code: the status of the page shown again.
        field: the field its message goes beside; ``None`` for a
            :class:`InvalidFieldsError`, which names its own fields.
    """

    error: type[CertwardenError]
    status_code: int = 422
    field: str | None = None

    def __post_init__(self) -> None:
        if self.field is None and not issubclass(self.error, InvalidFieldsError):
            raise TypeError(f"a Refusal of {self.error.__name__} needs the field it belongs to")

    def errors(self, exc: CertwardenError) -> dict[str, str]:
        if self.field is None and isinstance(exc, InvalidFieldsError):
            return dict(exc.errors)
        return {self.field or "": exc.diagnostics()}


SETTINGS_REFUSED = (Refusal(InvalidFieldsError),)


@dataclass(frozen=True)
class FormPage:
    """A page with a form: its template, title and address, and what else it shows.

    :meth:`show` renders it (with ``values`` in the fields and ``errors`` beside
    them); :meth:`submit` runs the save and either shows the form again with
    the refused fields or, on success, redirects back to ``path`` with a
    one-time message.

    Attributes:
        template: the Jinja2 template.
        title: the page title.
        path: the page's address: the active navigation entry and where a
            saved form redirects.
        crumbs: the breadcrumb trail above the title.
        context: more template values, read each time the page is shown.
    """

    template: str
    title: str
    path: str
    crumbs: Sequence[tuple[str, str]] = ()
    context: Callable[[WebContext], Mapping[str, Any]] | None = field(default=None)

    def show(
        self,
        request: Request,
        ctx: WebContext,
        who: Principal,
        values: Mapping[str, Any] | None = None,
        errors: Mapping[str, str] | None = None,
        status_code: int = 200,
        **extra: Any,
    ) -> HTMLResponse:
        """The page, with ``values`` in its fields and ``errors`` beside them."""
        more = dict(self.context(ctx)) if self.context is not None else {}
        more.update(extra)
        return render(
            request,
            ctx,
            who,
            self.template,
            title=self.title,
            active=self.path,
            crumbs=list(self.crumbs),
            status_code=status_code,
            values=values,
            errors=dict(errors or {}),
            **more,
        )

    def submit(
        self,
        request: Request,
        ctx: WebContext,
        who: Principal,
        save: Callable[[], T],
        *,
        shown: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
        flash: str | Callable[[T], str] = "",
        done: Callable[[T], Response] | None = None,
        refusals: Sequence[Refusal] = SETTINGS_REFUSED,
    ) -> Response:
        """Run ``save``; a refused form is shown again, a saved one redirects.

        Args:
            save: stores the form (and raises what it refuses); nothing is
                stored when it raises.
            shown: the values to put back in the fields when refused (a
                callable is read only then).
            flash: the message after the redirect to ``path`` (or a function
                of ``save``'s result that writes it).
            done: instead of that redirect, the response for ``save``'s result.
            refusals: the errors shown beside fields, the first match winning;
                any other error goes to the application's error handlers.
        """
        try:
            result = save()
        except CertwardenError as exc:
            refusal = next((r for r in refusals if isinstance(exc, r.error)), None)
            if refusal is None:
                raise
            values = shown() if callable(shown) else shown
            return self.show(request, ctx, who, values, refusal.errors(exc), refusal.status_code)
        if done is not None:
            return done(result)
        return redirect(request, self.path, flash=flash(result) if callable(flash) else flash)
