"""The FastAPI application of one hub: its error answers (`{"error": {"code", "message"}}` for every failure) and
the console and route groups it serves. The camera routes are added by hub.app, which owns the camera checker."""

from __future__ import annotations

import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.core.clock import to_iso
from hub.ledger.inspection_store import InspectionStore
from hub.ledger.monthly_outbox import MonthlyOutbox
from hub.ledger.store import LedgerStore
from hub.people.store import PeopleStore
from hub.store import Actor, InvalidStateError, NotFoundError, Store
from hub.store.db import store_failure
from hub.store.guard_room import GuardRoomStore
from hub.store.reports import ReportStore
from hub.web.auth import TokenBook
from hub.web.console import mount_console
from hub.web.context import ApiContext
from hub.web.errors import ApiError
from hub.web.guard import RequestGuard
from hub.web.routes import alarms, devices, faults, system, testmode, zones
from hub.web.routes.four_items import four_items_router
from hub.web.routes.hazards import hazards_router
from hub.web.routes.incidents import incidents_router
from hub.web.routes.inspections import inspections_router
from hub.web.routes.maintenance import maintenance_router
from hub.web.routes.monthly import monthly_router
from hub.web.routes.people import people_router
from hub.web.routes.reports import reports_router
from hub.web.throttle import AuditDue, CredentialThrottle, client_address

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def create_api(context: ApiContext) -> FastAPI:
    """The FastAPI application of one hub."""
    app = FastAPI(title="campus-hub", version="0.1.0", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.context = context
    tokens = app.state.tokens = TokenBook(context.config.api.tokens)
    trusted = context.config.api.trusted_proxies
    # Failed credential checks are audited one row per address per minute, on a thread of their own: the event
    # loop never waits for a commit, and a guessing client cannot flood the audit log.
    auditor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="auth-audit")

    def audit_failures(due: AuditDue) -> None:
        def write() -> None:
            detail = {"address": due.address, "failures": due.count}
            try:
                with context.store.write() as conn:
                    anonymous = Actor("anonymous", "none")
                    Store.audit(conn, to_iso(context.clock.now()), anonymous, due.kind, due.address, detail)
            except sqlite3.Error as exc:
                log.error("%s from %s (%d) could not be audited: %r", due.kind, due.address, due.count, exc)

        auditor.submit(write)

    throttle = app.state.throttle = CredentialThrottle(context.clock, audit=audit_failures)

    def check_bearer(token: str, peer: str, forwarded_for: str | None) -> float:
        address = client_address(peer, forwarded_for, trusted)
        wait = throttle.wait_s(address, token)
        if wait > 0:
            return wait
        if tokens.lookup(token) is None:
            throttle.failed(address, "auth.bearer_failed")
            return -1.0
        throttle.succeeded(address, token)
        return 0.0

    app.add_middleware(RequestGuard, check_bearer=check_bearer, yield_to_alarms=context.yield_to_alarms)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _error(exc.status, exc.code, exc.message, headers)

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return _error(404, f"{exc.what}_not_found", str(exc))

    @app.exception_handler(InvalidStateError)
    async def _conflict(request: Request, exc: InvalidStateError) -> JSONResponse:
        return _error(409, f"{exc.what}_state_conflict", str(exc))

    @app.exception_handler(sqlite3.OperationalError)
    async def _store_failed(request: Request, exc: sqlite3.OperationalError) -> JSONResponse:
        # A disk that is full or failing is a state of the hub, not a crash: a clear 503 instead of a bare 500.
        if store_failure(exc) is None:
            raise exc
        return _error(503, "store_unavailable", f"the hub's store cannot write: {exc}", {"Retry-After": "30"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, "invalid_request", f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    # The browser console: pages, login/logout, the live feed (/api/v1/feed).
    mount_console(app, context)
    app.include_router(system.router)  # /healthz, /metrics, forwarding, audit
    app.include_router(alarms.router)
    app.include_router(devices.router)  # and dead letters
    app.include_router(faults.router)
    app.include_router(zones.router)  # arming: 布防 / 撤防
    app.include_router(testmode.router)  # test mode, drills, the test/drill log, "this is real"
    # One report store for both: it keeps the maintenance windows that uptime reports take into account.
    reports = ReportStore(context.store, context.config)
    app.include_router(reports_router(context, reports))
    app.include_router(maintenance_router(reports))
    app.include_router(four_items_router(GuardRoomStore(context.store)))  # the guard room's daily four items
    # The safety ledger (台账): hazards, incidents without a device, the monthly safety report.
    ledger = app.state.ledger = LedgerStore(context.store, context.config.site)
    ledger.open()
    app.include_router(hazards_router(ledger))
    app.include_router(incidents_router(ledger))
    inspections = app.state.inspections = InspectionStore(context.store, context.config.site)
    inspections.open()
    app.include_router(inspections_router(inspections, ledger))
    # Each month's report on its way to the bureau's endpoint (hub.ledger.monthly_post sends it).
    posts = app.state.monthly_posts = MonthlyOutbox(context.store)
    posts.open()
    app.include_router(monthly_router(reports, inspections, posts))
    # Personal accounts for the console (the configured tokens stay for machines and stations).
    people = app.state.people = PeopleStore(context.store)
    people.open()
    app.include_router(people_router(people))
    return app
