"""The browser console: the guard, maintenance and reports pages, and logging in and out of them.

Pages are rendered on the server (Jinja2) and filled by small scripts (hub/web/static) that read the JSON API with
the session cookie; every action goes through the same role-checked, audited API routes as a Bearer token would.
The live feed the pages listen to is hub.web.stream; the daily figures of the reports chart are a report route.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool

from hub.config import Role
from hub.core.clock import to_iso
from hub.people import PERSON_PREFIX
from hub.people.store import PeopleStore
from hub.store import Actor, Store
from hub.web.auth import TokenBook, session_token
from hub.web.context import ApiContext, FeedReader
from hub.web.errors import ApiError
from hub.web.i18n import catalogue, pick_lang
from hub.web.sessions import CSRF_FIELD, SESSION_COOKIE, Session, SessionStore
from hub.web.stream import FeedStreams, feed_router
from hub.web.throttle import CredentialThrottle, client_address

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STORE_UNAVAILABLE = "store_unavailable"  # the stable error code (and message key) when the store cannot write
LANG_COOKIE = "lang"
LOGIN_COOKIE = "campus_hub_login"  # the login form's own CSRF token, before there is a session
HOME = {Role.GUARD: "/", Role.MAINTENANCE: "/maintenance", Role.BUREAU: "/reports", Role.ADMIN: "/"}
PAGES: dict[str, frozenset[Role]] = {
    "guard": frozenset({Role.GUARD}),
    "maintenance": frozenset({Role.MAINTENANCE}),
    "reports": frozenset({Role.BUREAU, Role.MAINTENANCE}),
    # The safety ledger (hub.ledger): incidents, hazards and the monthly report; inspection rounds on a phone.
    "ledger": frozenset({Role.GUARD, Role.MAINTENANCE, Role.BUREAU}),
    "inspect": frozenset({Role.GUARD, Role.MAINTENANCE}),
}
PATHS = {"guard": "/", "maintenance": "/maintenance", "reports": "/reports", "ledger": "/ledger", "inspect": "/inspect"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob: http: https:; object-src 'none'; frame-ancestors 'none';"
        " base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def may_open(role: Role, page: str) -> bool:
    return role is Role.ADMIN or role in PAGES[page]


class Console:
    """The pages and sessions of one hub's API, and its feed streams (which the hub ends when its API stops)."""

    def __init__(self, context: ApiContext, tokens: TokenBook) -> None:
        self.context = context
        self.tokens = tokens
        self.sessions = SessionStore(context.store, context.clock)
        self.sessions.open()
        self.streams = FeedStreams(context.feed, context.clock)
        self.secure = context.config.api.secure_cookies
        config = context.config
        # Every duration and period the pages name comes from the config (districts differ: 1 h / 2 h reports).
        self.figures = {
            "phone_minutes": config.incidents.phone_report_minutes,
            "written_minutes": config.incidents.written_report_minutes,
            "recovery_hours": config.sla.recovery_hours,
            "retention_days": float(config.retention.days),
        }
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            auto_reload=False,
            undefined=StrictUndefined,  # a missing message key fails loudly instead of rendering blank
        )

    def close_streams(self) -> None:
        """End every open feed stream (uvicorn waits for open responses before it stops)."""
        self.streams.close()

    def reopen(self) -> None:
        self.streams.reopen()

    def render(
        self,
        request: Request,
        template: str,
        status: int = 200,
        *,
        session: Session | None = None,
        page: str = "",
        **values: Any,
    ) -> HTMLResponse:
        lang = pick_lang(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))
        messages = catalogue(lang, self.figures)
        role = Role(session.role) if session else None
        boot = {
            "lang": lang,
            "page": page,
            "role": role.value if role else None,
            "user": session.token_name.removeprefix(PERSON_PREFIX) if session else None,
            "csrf": session.csrf if session else None,
            "now": to_iso(self.context.clock.now()),
            # Every time and day a person sees is in the site's zone, whatever the browser's own zone is.
            "tz": self.context.config.site.timezone,
            "warn_at": self.context.config.sla.warn_at,  # the countdown's colours change where the hub warns
            "messages": messages,
        }
        html = self.templates.get_template(template).render(
            t=messages,
            lang=lang,
            other_lang="en" if lang == "zh" else "zh",
            # Inside <script type="application/json">: no "<" at all, so no text can close or confuse the element.
            boot=json.dumps(boot, ensure_ascii=False).replace("<", "\\u003c"),
            nav=[(p, PATHS[p]) for p in PAGES if role and may_open(role, p)],
            site=self.context.config.site,
            csrf_field=CSRF_FIELD,
            session=session,
            page=page,
            store_degraded=self.context.store.degraded is not None,
            **values,
        )
        response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
        if request.query_params.get("lang") == lang:
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", secure=self.secure)
        return response

    async def session(self, request: Request) -> Session | None:
        try:
            await session_token(request)
        except ApiError:
            return None
        session: Session = request.state.session
        return session

    async def page(self, request: Request, page: str) -> Response:
        session = await self.session(request)
        if session is None:
            return RedirectResponse("/login", status_code=303)
        if not may_open(Role(session.role), page):
            return self.render(request, "error.html", 403, session=session, page="error", home=HOME[Role(session.role)])
        return self.render(request, f"{page}.html", session=session, page=page)

    def login_page(self, request: Request, status: int = 200, error: str | None = None) -> HTMLResponse:
        form_token = secrets.token_urlsafe(24)
        response = self.render(request, "login.html", status, page="login", form_token=form_token, error=error)
        response.set_cookie(LOGIN_COOKIE, form_token, httponly=True, samesite="strict", secure=self.secure)
        return response

    async def login(self, request: Request) -> Response:
        form = await request.form()
        peer = request.client.host if request.client else "unknown"
        address = client_address(peer, request.headers.get("x-forwarded-for"), self.context.config.api.trusted_proxies)
        field, cookie = form.get(CSRF_FIELD), request.cookies.get(LOGIN_COOKIE)
        if not isinstance(field, str) or not cookie or not secrets.compare_digest(field, cookie):
            return self.login_page(request, 403, "login_form_expired")
        name, password = form.get("name"), form.get("password")
        if isinstance(name, str) and name and isinstance(password, str):
            return await self.person_login(request, address, name, password)
        presented = form.get("token")
        presented = presented if isinstance(presented, str) and presented else None
        throttle: CredentialThrottle = request.app.state.throttle
        wait = throttle.wait_s(address, presented)
        if wait > 0:
            refused = self.login_page(request, 429, "login_wait")
            refused.headers["Retry-After"] = str(int(wait) + 1)
            return refused
        token = self.tokens.lookup(presented) if presented is not None else None
        if token is None or presented is None:
            throttle.failed(address, "session.login_failed")
            return self.login_page(request, 401, "login_bad_token")
        throttle.succeeded(address, presented)
        return await self._logged_in(request, address, token.name, token.name, token.role)

    async def person_login(self, request: Request, address: str, name: str, password: str) -> Response:
        """Logging in with a personal account: the name and password (Argon2id), behind the same throttle."""
        throttle: CredentialThrottle = request.app.state.throttle
        credential = PERSON_PREFIX + name + "\0" + password
        wait = throttle.wait_s(address, credential)
        if wait > 0:
            refused = self.login_page(request, 429, "login_wait")
            refused.headers["Retry-After"] = str(int(wait) + 1)
            return refused
        people: PeopleStore = request.app.state.people
        person = await run_in_threadpool(people.authenticate, name, password)
        if person is None:
            throttle.failed(address, "session.login_failed")
            return self.login_page(request, 401, "login_bad_password")
        throttle.succeeded(address, credential)
        return await self._logged_in(request, address, PERSON_PREFIX + person.name, person.name, person.role)

    async def _logged_in(self, request: Request, address: str, session_name: str, name: str, role: Role) -> Response:
        try:
            cookie_value, _ = await run_in_threadpool(self.sessions.create, session_name, role.value)
            await run_in_threadpool(self._audit, Actor(name, role.value), "session.login", name, {"address": address})
        except sqlite3.Error as exc:
            # A login writes a session row; on a full or failing disk say so, never a bare 500.
            log.error("console: login of %s could not be stored: %r", name, exc)
            return self.store_unavailable(request)
        response = RedirectResponse(HOME[role], status_code=303)
        # No Max-Age: the cookie lasts while the browser runs; the server ends a session unused for 12 hours
        # (a cookie lifetime fixed at login would log out a console that has been open and in use all along).
        response.set_cookie(
            SESSION_COOKIE,
            cookie_value,
            httponly=True,
            samesite="strict",
            secure=self.secure,
            path="/",
        )
        response.delete_cookie(LOGIN_COOKIE)
        return response

    def store_unavailable(self, request: Request) -> Response:
        """503 with the stable code `store_unavailable`: a page for a browser, the API's error JSON otherwise."""
        if "text/html" not in request.headers.get("accept", ""):
            return JSONResponse(
                {"error": {"code": STORE_UNAVAILABLE, "message": "the hub's store cannot write (disk full, failing)"}},
                status_code=503,
                headers={"Retry-After": "30"},
            )
        page = self.login_page(request, 503, STORE_UNAVAILABLE)
        page.headers["Retry-After"] = "30"
        return page

    def _audit(self, actor: Actor, action: str, target: str, detail: dict[str, Any]) -> None:
        with self.context.store.write() as conn:
            Store.audit(conn, to_iso(self.context.clock.now()), actor, action, target, detail)


def mount_console(app: FastAPI, context: ApiContext) -> Console:
    """Add the console's pages, static files, login and logout, and the live feed to the hub's API."""
    tokens: TokenBook = app.state.tokens
    console = Console(context, tokens)
    app.state.sessions = console.sessions
    app.state.console = console
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(_router(console))
    app.include_router(feed_router(console.streams))
    return console


def _router(console: Console) -> APIRouter:
    router = APIRouter()

    def page_route(page: str) -> Callable[[Request], Any]:
        async def show(request: Request) -> Response:
            return await console.page(request, page)

        return show

    for page, path in PATHS.items():
        router.add_api_route(path, page_route(page), methods=["GET"], include_in_schema=False)

    @router.get("/login", include_in_schema=False)
    async def login_form(request: Request) -> Response:
        session = await console.session(request)
        if session is not None:
            return RedirectResponse(HOME[Role(session.role)], status_code=303)
        return console.login_page(request)

    @router.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        return await console.login(request)

    @router.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        # session_token checks the form's CSRF field: a forged logout is refused like any forged action.
        token = await session_token(request)
        await run_in_threadpool(console.sessions.revoke, request.cookies.get(SESSION_COOKIE, ""))
        await run_in_threadpool(console._audit, Actor(token.name, token.role.value), "session.logout", token.name, {})
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.get("/api/v1/session")
    async def whoami(request: Request, actor: FeedReader) -> dict[str, Any]:
        """Who is logged in, and until when (pages call it now and then, which also keeps the session alive)."""
        session: Session | None = getattr(request.state, "session", None)
        return {
            "name": actor.name,
            "role": actor.role,
            "expires_at": to_iso(session.expires_at) if session else None,
        }

    return router
