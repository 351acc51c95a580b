"""PipeRun CRM client (contracts/piperun.md): companies, persons, deals, notes and lookups.

Auth is the `token` header. Reads and updates are retried in-call on transient failures; a
create is retried in-call only when PipeRun certainly did not process it (429, or no
connection made), because PipeRun has no idempotency keys (piperun.md §5): after a timeout or
a 5xx the record may exist, so the caller's next job attempt looks it up before creating again.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from seleto_agent.domain.brazil import same_cnpj
from seleto_agent.integrations.http_retry import RetryAfterWait
from seleto_agent.integrations.piperun.breaker import PipeRunBreaker
from seleto_agent.integrations.piperun.errors import (
    PipeRunAuthError,
    PipeRunCircuitOpen,
    PipeRunConnectFailed,
    PipeRunError,
    PipeRunNotFound,
    PipeRunRateLimited,
    PipeRunUnavailable,
    describe,
    error_for_status,
)
from seleto_agent.integrations.piperun.schemas import (
    City,
    Company,
    Deal,
    Envelope,
    Note,
    Origin,
    Person,
    Pipeline,
    Stage,
    User,
)
from seleto_agent.observability.metrics import PIPERUN_CALLS

Model = TypeVar("Model", bound=BaseModel)
JsonDict = dict[str, Any]

# piperun.md §2: `show` is 1..200 and its default differs per endpoint, so it is always sent.
MAX_PAGE_SIZE = 200


class PipeRunClient:
    vendor = "piperun"

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str,
        token: str,
        timeout_seconds: float,
        breaker: PipeRunBreaker | None = None,
        retry_wait_max_seconds: float = 2.0,
        in_call_attempts: int = 3,
    ) -> None:
        self._http = http
        self._root = base_url.rstrip("/")
        self._headers = {
            "token": token,
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        self._timeout = httpx.Timeout(timeout_seconds)
        self._breaker = breaker
        self._wait = RetryAfterWait(initial=0.2, maximum=retry_wait_max_seconds)
        self._attempts = max(in_call_attempts, 1)

    # --- companies ----------------------------------------------------------------------------

    async def find_companies(
        self,
        *,
        cnpj: str | None = None,
        name: str | None = None,
        external_code: str | None = None,
    ) -> list[Company]:
        """Companies matching every filter given; the CNPJ is sent as the caller formatted it.

        PipeRun drops a `cnpj` filter it cannot parse and lists every company (vendors.md #9;
        only two numeric formats are documented), so a CNPJ lookup stops after the first page
        holding a company with another CNPJ: the pages after it are the rest of the account.
        What PipeRun listed is returned as is; the caller compares CNPJs before using one.
        """
        params = _filters(cnpj=cnpj, name=name, external_code=external_code)
        if cnpj is None or "cnpj" not in params:
            return await self._find(Company, "/companies", params)
        companies: list[Company] = []
        async with contextlib.aclosing(self._pages("/companies", params)) as pages:
            async for items in pages:
                page = [_parse(Company, item, "GET", "/companies") for item in items]
                companies += page
                if not all(same_cnpj(company.cnpj, cnpj) for company in page):
                    break
        return companies

    async def get_company(self, company_id: int) -> Company:
        """The company with its contact lists (`with=` names them, piperun.md §4.1)."""
        return await self._one(
            Company, "GET", f"/companies/{company_id}", params={"with": _CONTACT_RELATIONS}
        )

    async def create_company(self, payload: Mapping[str, Any]) -> Company:
        return await self._one(Company, "POST", "/companies", payload=payload)

    async def update_company(self, company_id: int, payload: Mapping[str, Any]) -> Company:
        return await self._one(Company, "PUT", f"/companies/{company_id}", payload=payload)

    # --- persons ------------------------------------------------------------------------------

    async def find_persons(
        self,
        *,
        company_id: int | None = None,
        name: str | None = None,
        cpf: str | None = None,
        external_code: str | None = None,
    ) -> list[Person]:
        # piperun.md §4.2: there is no filter by e-mail or phone.
        params = _filters(company_id=company_id, name=name, cpf=cpf, external_code=external_code)
        return await self._find(Person, "/persons", params)

    async def get_person(self, person_id: int) -> Person:
        # PipeRun's person answers carry `contact_emails`/`contact_phones` without `with=`,
        # whose options are not documented for persons.
        return await self._one(Person, "GET", f"/persons/{person_id}")

    async def create_person(self, payload: Mapping[str, Any]) -> Person:
        return await self._one(Person, "POST", "/persons", payload=payload)

    async def update_person(self, person_id: int, payload: Mapping[str, Any]) -> Person:
        return await self._one(Person, "PUT", f"/persons/{person_id}", payload=payload)

    # --- deals and notes ----------------------------------------------------------------------

    async def find_deals(
        self,
        *,
        person_id: int | None = None,
        pipeline_id: int | None = None,
        status: int | None = None,
        company_id: int | None = None,
        stage_id: int | None = None,
    ) -> list[Deal]:
        params = _filters(
            person_id=person_id,
            pipeline_id=pipeline_id,
            status=status,
            company_id=company_id,
            stage_id=stage_id,
        )
        return await self._find(Deal, "/deals", params)

    async def get_deal(self, deal_id: int) -> Deal:
        return await self._one(Deal, "GET", f"/deals/{deal_id}")

    async def create_deal(self, payload: Mapping[str, Any]) -> Deal:
        return await self._one(Deal, "POST", "/deals", payload=payload)

    async def update_deal(self, deal_id: int, payload: Mapping[str, Any]) -> Deal:
        return await self._one(Deal, "PUT", f"/deals/{deal_id}", payload=payload)

    async def find_notes(self, *, deal_id: int) -> list[Note]:
        return await self._find(Note, "/notes", {"deal_id": deal_id})

    async def create_note(self, payload: Mapping[str, Any]) -> Note:
        return await self._one(Note, "POST", "/notes", payload=payload)

    async def update_note(self, note_id: int, payload: Mapping[str, Any]) -> Note:
        return await self._one(Note, "PUT", f"/notes/{note_id}", payload=payload)

    # --- deletes (LGPD erasure) ----------------------------------------------------------------

    async def delete_person(self, person_id: int) -> bool:
        return await self._delete(f"/persons/{person_id}")

    async def delete_note(self, note_id: int) -> bool:
        return await self._delete(f"/notes/{note_id}")

    async def delete_company(self, company_id: int) -> bool:
        return await self._delete(f"/companies/{company_id}")

    async def _delete(self, path: str) -> bool:
        """PipeRun's `DELETE` answers 204 (the OpenAPI's example body `{}`), 404 when the record
        is gone: False then, so an erasure run twice succeeds. A delete is idempotent, so it is
        retried in-call like a read."""
        try:
            await self._send("DELETE", path)
        except PipeRunNotFound:
            return False
        return True

    # --- lookups ------------------------------------------------------------------------------

    async def find_cities(self, *, name: str, uf: str) -> list[City]:
        """Cities by name within a UF. Whether PipeRun matches `name` exactly is undocumented
        (piperun.md §4.5), so the UF is checked here as well."""
        cities = await self._find(City, "/cities", {"name": name, "uf": uf})
        return [city for city in cities if city.uf.strip().upper() == uf.strip().upper()]

    async def list_pipelines(self) -> list[Pipeline]:
        return await self._find(Pipeline, "/pipelines", {})

    async def list_stages(self, *, pipeline_id: int | None = None) -> list[Stage]:
        return await self._find(Stage, "/stages", _filters(pipeline_id=pipeline_id))

    async def list_origins(self) -> list[Origin]:
        return await self._find(Origin, "/origins", {})

    async def list_users(self) -> list[User]:
        return await self._find(User, "/users", {})

    # --- pagination ---------------------------------------------------------------------------

    async def paginate(
        self, path: str, params: Mapping[str, Any] | None = None, *, show: int = MAX_PAGE_SIZE
    ) -> AsyncIterator[JsonDict]:
        """Every item of a list endpoint, page by page (piperun.md §2): `cursor=` first, then
        `meta.cursor.next` verbatim until it is null or a page comes back empty (PipeRun's own
        extractor stops on either; vendors.md #11)."""
        async for items in self._pages(path, params, show=show):
            for item in items:
                yield item

    async def _pages(
        self, path: str, params: Mapping[str, Any] | None, *, show: int = MAX_PAGE_SIZE
    ) -> AsyncGenerator[list[JsonDict], None]:
        query: JsonDict = {**(params or {}), "show": min(max(show, 1), MAX_PAGE_SIZE)}
        cursor = ""
        seen: set[str] = set()
        while True:
            envelope = await self._send("GET", path, params={**query, "cursor": cursor})
            items = envelope.items()
            yield items
            next_cursor = envelope.next_cursor()
            if next_cursor is None or not items:
                return
            if next_cursor in seen:
                # A cursor that comes back would page forever; stop rather than loop.
                raise PipeRunUnavailable(f"{describe('GET', path)}: pagination cursor repeated")
            seen.add(next_cursor)
            cursor = next_cursor

    # --- plumbing -----------------------------------------------------------------------------

    async def _find(self, model: type[Model], path: str, params: JsonDict) -> list[Model]:
        if not params and path in _FILTER_REQUIRED:
            # Without a filter PipeRun lists the whole account, which is never what we mean.
            raise ValueError(f"{path} needs at least one filter")
        items = [item async for item in self.paginate(path, params)]
        return [_parse(model, item, "GET", path) for item in items]

    async def _one(
        self,
        model: type[Model],
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> Model:
        envelope = await self._send(method, path, params=params, payload=payload)
        record = envelope.one()
        if record is None:
            raise PipeRunUnavailable(f"{describe(method, path)}: answer without a record")
        return _parse(model, record, method, path)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> Envelope:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_exception(_retryable(method)),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt, self._guard():
                return await self._exchange(method, path, params, payload)
        raise AssertionError("unreachable")  # pragma: no cover

    def _guard(self) -> contextlib.AbstractContextManager[None]:
        return self._breaker.attempt() if self._breaker else contextlib.nullcontext()

    async def _exchange(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        payload: Mapping[str, Any] | None,
    ) -> Envelope:
        """One HTTP request, counted in PIPERUN_CALLS by outcome."""
        try:
            envelope = await self._request(method, path, params, payload)
        except PipeRunError as exc:
            _count(method, path, _outcome(exc))
            raise
        _count(method, path, "ok")
        return envelope

    async def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        payload: Mapping[str, Any] | None,
    ) -> Envelope:
        where = describe(method, path)
        try:
            response = await self._http.request(
                method,
                f"{self._root}{path}",
                params=dict(params) if params is not None else None,
                json=dict(payload) if payload is not None else None,
                headers=self._headers,
                timeout=self._timeout,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise PipeRunConnectFailed(f"{where}: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise PipeRunUnavailable(f"{where}: {type(exc).__name__}") from exc
        body = _json_or_none(response)
        error = error_for_status(method, path, response, body)
        if error is not None:
            raise error
        status = response.status_code
        if method == "DELETE" and (status == 204 or body is None):
            return Envelope()
        try:
            if not isinstance(body, dict):
                raise ValueError("not a JSON object")
            return Envelope.model_validate(body)
        except ValueError as exc:
            # A 2xx cut short by a proxy or a dropped connection: nothing in it can be trusted.
            raise PipeRunUnavailable(
                f"{describe(method, path, status)}: invalid JSON body", status_code=status
            ) from exc


_CONTACT_RELATIONS = "contactEmails,contactPhones"
# Paths where a call without filters would return every record of the account.
_FILTER_REQUIRED = frozenset({"/companies", "/persons", "/deals", "/notes", "/cities"})


def _count(method: str, path: str, outcome: str) -> None:
    PIPERUN_CALLS.labels(method=method, resource=_resource(path), outcome=outcome).inc()


def _outcome(exc: PipeRunError) -> str:
    if isinstance(exc, PipeRunRateLimited):
        return "rate_limited"
    if isinstance(exc, PipeRunConnectFailed):
        return "network"
    if isinstance(exc, PipeRunAuthError):
        return "auth_error"
    if isinstance(exc, PipeRunNotFound):
        return "not_found"
    if not isinstance(exc, PipeRunUnavailable):
        return "rejected"
    status = exc.status_code
    if status is not None:
        return "server_error" if status >= 500 else "invalid_response"
    return "timeout" if isinstance(exc.__cause__, httpx.TimeoutException) else "network"


def _resource(path: str) -> str:
    # "/companies/748" -> "companies": ids would make the label set unbounded.
    return path.strip("/").split("/", 1)[0] or "root"


def _retryable(method: str) -> Callable[[BaseException], bool]:
    if method == "POST":
        return lambda exc: isinstance(exc, PipeRunRateLimited | PipeRunConnectFailed)
    return lambda exc: (
        isinstance(exc, PipeRunUnavailable) and not isinstance(exc, PipeRunCircuitOpen)
    )


def _filters(**values: Any) -> JsonDict:
    # PipeRun ignores an empty filter and lists everything: `cnpj=""` must not look like one.
    return {
        key: value
        for key, value in values.items()
        if value is not None and not (isinstance(value, str) and not value.strip())
    }


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _parse(model: type[Model], item: JsonDict, method: str, path: str) -> Model:
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        # Field names only: the values are lead data.
        fields = sorted({".".join(str(part) for part in err["loc"]) for err in exc.errors()})
        raise PipeRunUnavailable(
            f"{describe(method, path)}: unexpected {model.__name__} fields {fields}"
        ) from exc
