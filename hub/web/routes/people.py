"""Personal account routes: the administrator creates accounts, resets their passwords and disables or enables
them; each person changes their own password. Every change is audited naming who made it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from hub.config import Role
from hub.config.base import IdStr
from hub.people import PERSON_PREFIX
from hub.people.passwords import WeakPassword, check_new
from hub.people.store import PeopleStore
from hub.store import Actor
from hub.web.auth import require
from hub.web.context import AdminActor, ContextDep
from hub.web.errors import ApiError
from hub.web.sessions import Session

AnyPerson = Annotated[Actor, Depends(require(Role.GUARD, Role.MAINTENANCE, Role.BUREAU))]


class PersonRequest(BaseModel):
    """A new personal account."""

    model_config = ConfigDict(extra="forbid")

    name: IdStr = Field(description="Login name, e.g. zhang-wei; shown in the audit log.")
    full_name: str = Field(min_length=1, max_length=100, description="The person's name as signed, e.g. 张伟.")
    role: Role = Field(description="guard, maintenance, bureau or admin.")
    phone: str = Field(default="", max_length=40, description="A phone number to reach the person on duty.")
    password: str = Field(max_length=200, description="The first password; the person should change it.")


class PasswordRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(max_length=200, description="The new password.")


class OwnPasswordRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current: str = Field(max_length=200, description="The password in use now.")
    password: str = Field(max_length=200, description="The new password.")


def _checked(password: str, name: str) -> str:
    try:
        check_new(password, name)
    except WeakPassword as exc:
        raise ApiError(422, "weak_password", str(exc)) from exc
    return password


def people_router(people: PeopleStore) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/people")
    def list_people(actor: AdminActor) -> dict[str, Any]:
        return {"people": people.list()}

    @router.post("/api/v1/people", status_code=201)
    def create(request: Request, body: PersonRequest, ctx: ContextDep, actor: AdminActor) -> dict[str, Any]:
        if request.app.state.tokens.by_name(body.name) is not None:
            raise ApiError(409, "name_taken", f"{body.name!r} is the name of a configured token")
        people.create(
            actor,
            ctx.clock.now(),
            name=body.name,
            full_name=body.full_name,
            role=body.role,
            phone=body.phone,
            password=_checked(body.password, body.name),
        )
        return people.get(body.name)

    @router.post("/api/v1/people/{name}/reset")
    def reset(name: str, body: PasswordRequest, ctx: ContextDep, actor: AdminActor) -> dict[str, Any]:
        people.set_password(actor, ctx.clock.now(), name, _checked(body.password, name), action="person.reset")
        return people.get(name)

    @router.post("/api/v1/people/{name}/disable")
    def disable(name: str, ctx: ContextDep, actor: AdminActor) -> dict[str, Any]:
        people.set_disabled(actor, ctx.clock.now(), name, True)
        return people.get(name)

    @router.post("/api/v1/people/{name}/enable")
    def enable(name: str, ctx: ContextDep, actor: AdminActor) -> dict[str, Any]:
        people.set_disabled(actor, ctx.clock.now(), name, False)
        return people.get(name)

    @router.post("/api/v1/me/password")
    async def own_password(request: Request, body: OwnPasswordRequest, ctx: ContextDep, actor: AnyPerson) -> None:
        """A person changes their own password (logged in with their account; the current one is asked again)."""
        session: Session | None = getattr(request.state, "session", None)
        if session is None or not session.token_name.startswith(PERSON_PREFIX):
            raise ApiError(409, "not_a_person", "only a personal account has a password to change")
        if await run_in_threadpool(people.authenticate, actor.name, body.current) is None:
            raise ApiError(403, "wrong_password", "the current password is not right")
        new = _checked(body.password, actor.name)
        await run_in_threadpool(people.set_password, actor, ctx.clock.now(), actor.name, new, action="person.password")

    return router
