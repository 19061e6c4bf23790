"""The browser console: login and logout, the guard, maintenance and reports pages, the live feed (Server-Sent
Events), the daily figures behind the reports chart, and the reminder of overdue report duties.

Pages are rendered on the server (Jinja2) and filled by small scripts (hub/static) that read the JSON API with the
session cookie; every action goes through the same role-checked, audited API routes as a Bearer token would.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from alerts.duties import DutyPolicy, DutyType, duty_status
from alerts.model import Disposition
from hub.config import Role
from hub.core.clock import Clock, from_iso, to_iso
from hub.core.feed import RESYNC, Feed, FeedEvent
from hub.core.periodic import Periodic
from hub.reports import PeriodError, resolve_period
from hub.store import Actor, Store
from hub.store.reports import config_digest, read_report, registry
from hub.web.auth import TokenBook, require, session_token
from hub.web.context import ApiContext
from hub.web.errors import ApiError
from hub.web.i18n import catalogue, pick_lang
from hub.web.sessions import CSRF_FIELD, SESSION_COOKIE, LoginThrottle, Session, SessionStore

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
LANG_COOKIE = "lang"
LOGIN_COOKIE = "campus_hub_login"  # the login form's own CSRF token, before there is a session
KEEPALIVE_S = 15.0
STREAM_POLL_S = 1.0  # how often an open stream looks whether the hub is shutting down
RETRY_MS = 2000  # EventSource's reconnect delay
MAX_DAILY_DAYS = 92
HOME = {Role.GUARD: "/", Role.MAINTENANCE: "/maintenance", Role.BUREAU: "/reports", Role.ADMIN: "/"}
PAGES: dict[str, frozenset[Role]] = {
    "guard": frozenset({Role.GUARD}),
    "maintenance": frozenset({Role.MAINTENANCE}),
    "reports": frozenset({Role.BUREAU, Role.MAINTENANCE}),
}
PATHS = {"guard": "/", "maintenance": "/maintenance", "reports": "/reports"}
# The bureau reads uptime and faults; alarms and the guard's duties are not its business.
_ALARM_NOTICES = ("alarm_", "duty_")
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


def visible_to(role: Role, kind: str) -> bool:
    """Whether a feed notice of `kind` goes to a page of `role`."""
    return role is not Role.BUREAU or not kind.startswith(_ALARM_NOTICES)


def sse_frame(event: FeedEvent) -> str:
    """One Server-Sent Event: the feed seq as its id (a reconnecting page sends it back), the notice as JSON."""
    return f"id: {event.seq}\ndata: {json.dumps(event.as_json(), ensure_ascii=False, separators=(',', ':'))}\n\n"


def utc_days(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The UTC calendar days that `start`..`end` touches, each clipped to the period."""
    days = []
    day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        following = day + timedelta(days=1)
        days.append((max(day, start), min(following, end)))
        day = following
    return days


def open_faults_per_day(faults: Iterable[Mapping[str, Any]], days: Sequence[tuple[datetime, datetime]]) -> list[int]:
    """How many faults were open (not yet recovered) at some time during each day."""
    spans = []
    for fault in faults:
        ended = fault.get("recovered_at") or fault.get("closed_at")
        spans.append((from_iso(fault["opened_at"]), from_iso(ended) if ended else None))
    return [
        sum(1 for opened, ended in spans if opened < end and (ended is None or ended > start)) for start, end in days
    ]


@dataclass(frozen=True, slots=True)
class Reminder:
    alarm_id: str
    duty: DutyType
    due_at: datetime


Candidate = tuple[str, str, str, str | None, list[tuple[str, str]]]


def due_reminders(
    candidates: Iterable[Candidate], policy: DutyPolicy, now: datetime, announced: set[tuple[str, str]]
) -> list[Reminder]:
    """Duties overdue at `now` that have not been announced yet (one reminder per alarm and duty)."""
    out = []
    for alarm_id, kind, raised_at, disposition, reports in candidates:
        for status in duty_status(
            kind,
            from_iso(raised_at),
            Disposition(disposition) if disposition else None,
            [(DutyType(t), from_iso(a)) for t, a in reports],
            policy,
            now,
        ):
            if status.overdue and (alarm_id, status.type.value) not in announced:
                out.append(Reminder(alarm_id, status.type, status.due_at))
    return out


class DutyReminder:
    """Every `interval_s`, puts a `duty_overdue` notice on the feed for each report duty that has just run out."""

    def __init__(self, store: Store, policy: DutyPolicy, clock: Clock, feed: Feed, *, interval_s: float = 15.0) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._feed = feed
        self._announced: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._timer = Periodic(
            "duty-reminder", self.run_once, lambda: interval_s, on_exit=store.close_thread_connection
        )

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def run_once(self) -> list[Reminder]:
        """One check at the clock's now (tests call it directly); returns what it announced."""
        with self._lock:  # the timer and a direct call must not both announce the same duty
            candidates = self._store.duty_candidates(sorted(self._policy.kinds))
            # Alarms that are no longer candidates (closed and done) need no memory.
            live = {c[0] for c in candidates}
            self._announced = {a for a in self._announced if a[0] in live}
            due = due_reminders(candidates, self._policy, self._clock.now(), self._announced)
            self._announced |= {(r.alarm_id, r.duty.value) for r in due}
        for reminder in due:
            log.warning(
                "alarm %s: the %s report was due at %s", reminder.alarm_id, reminder.duty.value, reminder.due_at
            )
            self._feed.publish(
                "duty_overdue",
                {"alarm_id": reminder.alarm_id, "type": reminder.duty.value, "due_at": to_iso(reminder.due_at)},
            )
        return due


class Console:
    """The pages and the feed of one hub's API."""

    def __init__(self, context: ApiContext, tokens: TokenBook) -> None:
        self.context = context
        self.tokens = tokens
        self.sessions = SessionStore(context.store, context.clock)
        self.sessions.open()
        self.throttle = LoginThrottle(context.clock)
        self.closing = threading.Event()
        self.secure = context.config.api.secure_cookies
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            auto_reload=False,
            undefined=StrictUndefined,  # a missing message key fails loudly instead of rendering blank
        )
        self._devices = registry(context.config)
        self._digest = config_digest(context.config)

    def close_streams(self) -> None:
        """End every open feed stream (uvicorn waits for open responses before it stops)."""
        self.closing.set()

    def reopen(self) -> None:
        self.closing.clear()

    # --- pages -----------------------------------------------------------------------------------------------

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
        messages = catalogue(lang)
        role = Role(session.role) if session else None
        boot = {
            "lang": lang,
            "page": page,
            "role": role.value if role else None,
            "user": session.token_name if session else None,
            "csrf": session.csrf if session else None,
            "now": to_iso(self.context.clock.now()),
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
        address = request.client.host if request.client else "unknown"
        field, cookie = form.get(CSRF_FIELD), request.cookies.get(LOGIN_COOKIE)
        if not isinstance(field, str) or not cookie or not secrets.compare_digest(field, cookie):
            return self.login_page(request, 403, "login_form_expired")
        wait = self.throttle.wait_s(address)
        if wait > 0:
            refused = self.login_page(request, 429, "login_wait")
            refused.headers["Retry-After"] = str(int(wait) + 1)
            return refused
        presented = form.get("token")
        token = self.tokens.lookup(presented) if isinstance(presented, str) and presented else None
        if token is None:
            self.throttle.failed(address)
            await run_in_threadpool(self._audit, Actor("anonymous", "none"), "session.login_failed", address, {})
            return self.login_page(request, 401, "login_bad_token")
        self.throttle.succeeded(address)
        cookie_value, _ = await run_in_threadpool(self.sessions.create, token.name, token.role.value)
        await run_in_threadpool(
            self._audit, Actor(token.name, token.role.value), "session.login", token.name, {"address": address}
        )
        response = RedirectResponse(HOME[token.role], status_code=303)
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

    def _audit(self, actor: Actor, action: str, target: str, detail: dict[str, Any]) -> None:
        with self.context.store.write() as conn:
            Store.audit(conn, to_iso(self.context.clock.now()), actor, action, target, detail)

    # --- feed and figures --------------------------------------------------------------------------------------

    async def stream(self, role: Role, last_seq: int | None) -> AsyncIterator[str]:
        feed = self.context.feed
        sub = feed.subscribe(last_seq)
        try:
            yield f"retry: {RETRY_MS}\n\n"
            latest = feed.recent(1)
            if last_seq is not None and (not latest or last_seq > latest[-1].seq):
                # The page saw numbers this feed never gave (the hub restarted): it must reload everything.
                yield sse_frame(FeedEvent(latest[-1].seq if latest else 0, RESYNC, {}, self.context.clock.now()))
            quiet = 0.0
            while not self.closing.is_set():
                batch = await sub.next(STREAM_POLL_S)
                if batch is None:
                    quiet += STREAM_POLL_S
                    if quiet >= KEEPALIVE_S:
                        quiet = 0.0
                        yield ": keep-alive\n\n"
                    continue
                quiet = 0.0
                frames = "".join(sse_frame(e) for e in batch if visible_to(role, e.kind))
                if frames:
                    yield frames
        finally:
            feed.unsubscribe(sub)

    def daily(self, start: datetime | None, end: datetime | None) -> dict[str, Any]:
        now = self.context.clock.now()  # one now for the period and each of its days
        try:
            period = resolve_period(start, end, now)
        except PeriodError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from exc
        days = utc_days(period.start, period.as_of)
        if len(days) > MAX_DAILY_DAYS:
            raise ApiError(422, "invalid_request", f"daily figures cover at most {MAX_DAILY_DAYS} days")
        conn = self.context.store.connection()
        rows = []
        faults = open_faults_per_day(self.context.health_store.list_faults(None), days)
        for (day_start, day_end), open_faults in zip(days, faults, strict=True):
            day = resolve_period(day_start, day_end, now)
            _, _, report = read_report(conn, self.context.config, day, "site", "json", self._devices, self._digest)
            rows.append(
                {
                    "day": day_start.date().isoformat(),
                    "from": to_iso(day_start),
                    "to": to_iso(day_end),
                    "uptime_pct": report["summary"]["uptime_pct"],
                    "open_faults": open_faults,
                }
            )
        return {"period": period.as_json(), "days": rows}


# Module level: the routes' annotations are strings (postponed), resolved against this module's names.
FeedReader = Annotated[Actor, Depends(require(Role.GUARD, Role.MAINTENANCE, Role.BUREAU))]
ReportReader = Annotated[Actor, Depends(require(Role.BUREAU, Role.MAINTENANCE))]


def mount_console(app: FastAPI, context: ApiContext) -> Console:
    """Add the console's pages, static files, the feed and the daily figures to the hub's API."""
    tokens: TokenBook = app.state.tokens
    console = Console(context, tokens)
    app.state.sessions = console.sessions
    app.state.console = console
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(_router(console))
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

    @router.get("/api/v1/feed", response_model=None)
    async def feed(request: Request, actor: FeedReader) -> StreamingResponse:
        """Live notices as Server-Sent Events; `Last-Event-ID` resumes, a `resync` notice means reload."""
        header = request.headers.get("last-event-id", "")
        last_seq = int(header) if header.isdigit() else None
        return StreamingResponse(
            console.stream(Role(actor.role), last_seq),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get("/api/v1/session")
    async def whoami(request: Request, actor: FeedReader) -> dict[str, Any]:
        """Who is logged in, and until when (pages call it now and then, which also keeps the session alive)."""
        session: Session | None = getattr(request.state, "session", None)
        return {
            "name": actor.name,
            "role": actor.role,
            "expires_at": to_iso(session.expires_at) if session else None,
        }

    @router.get("/api/v1/reports/daily")
    async def daily(
        actor: ReportReader,
        from_: Annotated[AwareDatetime | None, Query(alias="from", description="Default: to - 30 days.")] = None,
        to: Annotated[AwareDatetime | None, Query(description="Default: now.")] = None,
    ) -> dict[str, Any]:
        """Site uptime % and open faults for each UTC day of the period (the reports chart)."""
        return await run_in_threadpool(console.daily, from_, to)

    return router
