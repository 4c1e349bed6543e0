"""The owner's administration calls of ``RelayClient``: agents, API keys, OAuth clients, always-allow
rules and the audit chain (kept apart from the asking and answering calls every client makes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, TypeAdapter

from hitl_desk.audit import AuditPage
from hitl_desk.models import (
    Agent,
    AgentCreate,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyInfo,
    ApiKeyList,
    OwnerTokenRotated,
)
from hitl_desk.oauth_models import AuthorizedClient, AuthorizedClientList, ClientRevoked
from hitl_desk.rules import Rule, RuleCreate, RuleKind, RuleList

M = TypeVar("M", bound=BaseModel)
AGENTS = TypeAdapter(list[Agent])


class OwnerCalls:
    """Calls only the owner credential may make; mixed into ``hitl_desk.client.RelayClient``."""

    if TYPE_CHECKING:
        async def _call(self, method: str, path: str, model: type[M] | None = None, *,
                        body: BaseModel | None = None, params: dict[str, Any] | None = None,
                        timeout: float | None = None, renewed: bool = False) -> Any: ...

    # -- always-allow rules and the audit chain (owner) -------------------------------------------

    async def list_rules(self, *, include_revoked: bool = False) -> list[Rule]:
        """The always-allow rules, newest first."""
        found: RuleList = await self._call("GET", "/api/v1/rules", RuleList,
                                           params={"include_revoked": include_revoked or None})
        return found.rules

    async def add_rule(self, agent: str, tool: str, kind: RuleKind, pattern: str) -> Rule:
        """Allow the agent's calls of the tool whose argument matches the pattern, without asking."""
        body = RuleCreate.model_construct(agent=agent, tool=tool, kind=kind, pattern=pattern)
        result: Rule = await self._call("POST", "/api/v1/rules", Rule, body=body)
        return result

    async def revoke_rule(self, rule_id: str) -> Rule:
        """Revoke a rule at once."""
        result: Rule = await self._call("DELETE", f"/api/v1/rules/{rule_id}", Rule)
        return result

    async def audit_page(self, after: int = 0, limit: int = 500) -> AuditPage:
        """Audit entries after ``after``, oldest first (``hitl_desk.audit``)."""
        result: AuditPage = await self._call("GET", "/api/v1/audit", AuditPage,
                                             params={"after": after, "limit": limit})
        return result

    # -- agents and keys ----------------------------------------------------------------------

    async def list_agents(self) -> list[Agent]:
        """Every registered agent."""
        return AGENTS.validate_python(await self._call("GET", "/api/v1/agents"))

    async def create_agent(self, name: str) -> Agent:
        """Register an agent."""
        result: Agent = await self._call("POST", "/api/v1/agents", Agent, body=AgentCreate.model_construct(name=name))
        return result

    async def create_api_key(self, agent_name: str, label: str | None = None) -> ApiKeyCreated:
        """Mint a key for the agent; the only time the key is shown."""
        result: ApiKeyCreated = await self._call(
            "POST", "/api/v1/api-keys", ApiKeyCreated,
            body=ApiKeyCreate.model_construct(agent_name=agent_name, label=label))
        return result

    async def list_oauth_clients(self) -> list[AuthorizedClient]:
        """The OAuth clients the human authorised (owner)."""
        listed: AuthorizedClientList = await self._call("GET", "/api/v1/oauth/clients", AuthorizedClientList)
        return listed.clients

    async def revoke_oauth_client(self, client_id: str) -> ClientRevoked:
        """Revoke every grant of an OAuth client (owner)."""
        result: ClientRevoked = await self._call("DELETE", f"/api/v1/oauth/clients/{quote(client_id, safe='')}",
                                                 ClientRevoked)
        return result

    async def list_api_keys(self) -> list[ApiKeyInfo]:
        """Every key, by prefix."""
        result: ApiKeyList = await self._call("GET", "/api/v1/api-keys", ApiKeyList)
        return result.api_keys

    async def revoke_api_key(self, prefix: str) -> ApiKeyInfo:
        """Revoke a key."""
        result: ApiKeyInfo = await self._call("DELETE", f"/api/v1/api-keys/{prefix}", ApiKeyInfo)
        return result

    async def rotate_owner_token(self) -> OwnerTokenRotated:
        """Have the relay issue a new owner credential (revoking this one); says where it is."""
        result: OwnerTokenRotated = await self._call("POST", "/api/v1/owner-token/rotate", OwnerTokenRotated)
        return result
