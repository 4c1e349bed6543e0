"""The one error catalog: every failure the relay reports, with a stable code and HTTP status.

The relay raises these; one builder (``hitl_desk.models.ErrorBody.of``) turns them into the
JSON of an HTTP answer ``{"error": {"code", "message"}, "detail": message}`` and of a WebSocket
result's ``error``; the client turns that JSON back into
the same class (``error_from_payload``).  The tree::

    HitlError
    ├── InvalidRequestError          422 invalid_request
    │   ├── PayloadTooLargeError     413 payload_too_large
    │   └── DefaultAnswerNotAChoiceError 422 default_answer_not_a_choice
    ├── MalformedJsonError           400 malformed_json
    │   └── JsonTooDeepError         400 json_too_deep
    ├── AuthenticationError          401 unauthorized
    ├── PermissionDeniedError        403 forbidden
    │   └── InsufficientScopeError   403 insufficient_scope
    ├── HostNotAllowedError          403 host_not_allowed
    ├── OriginNotAllowedError        403 origin_not_allowed
    ├── NotFoundError                404 not_found
    │   ├── RequestNotFoundError     404 request_not_found
    │   ├── ApiKeyNotFoundError      404 api_key_not_found
    │   ├── NotOnLanError            404 not_on_lan
    │   ├── RuleNotFoundError        404 rule_not_found
    │   └── OAuthClientNotFoundError 404 oauth_client_not_found
    ├── MethodNotAllowedError        405 method_not_allowed
    ├── RequestClosedError           409 request_closed
    │   ├── AlreadyAnsweredError     409 already_answered
    │   ├── RequestExpiredError      409 request_expired
    │   └── RequestCancelledError    409 request_cancelled
    ├── AgentExistsError             409 agent_exists
    ├── RequestExistsError           409 request_exists
    ├── KeyMissingError              409 key_missing
    ├── KeyChangedError              409 key_changed
    ├── AgentNameConflictError       409 agent_name_conflict
    ├── DecryptionError              422 decryption_failed
    ├── BindingError                 422 envelope_mismatch
    ├── RateLimitedError             429 rate_limited
    ├── TooManyConnectionsError      503 too_many_connections
    ├── TooManyPendingError          429 too_many_pending
    ├── InternalError                500 internal_error
    ├── StorageFullError             507 storage_full
    ├── RelayUnavailableError        --- relay_unavailable (client side: nothing answered)
    ├── RelayStartError              --- relay_start_failed (local: the relay could not start)
    ├── ServerUrlError               --- invalid_server_url (client side: HITL_SERVER_URL / --url)
    ├── PairingNotFoundError         404 pairing_not_found      (pairing, DESIGN §7)
    ├── PairingExpiredError          410 pairing_expired
    ├── PairingUsedError             409 pairing_used
    ├── PairingFailedError           409 pairing_failed
    │   ├── PairingSecretError       403 pairing_secret_mismatch
    │   └── PairingCodeMismatchError 409 pairing_code_mismatch
    ├── DeviceNotFoundError          404 device_not_found       (a NotFoundError)
    ├── DeviceAuthError              401 device_unauthorized    (an AuthenticationError)
    │   ├── DeviceRevokedError       401 device_revoked
    │   ├── SignatureExpiredError    401 signature_expired
    │   └── SignatureReplayedError   401 signature_replayed
    ├── LanUnavailableError          409 lan_unavailable        (the LAN switch could not bind)
    └── HookSettingsError            --- hook_settings_invalid (local: a client's settings file, left unchanged)
"""

from __future__ import annotations

from typing import Any, ClassVar


class HitlError(Exception):
    """Base of every hitl-desk error; carries a stable wire code and an HTTP status."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    default_message: ClassVar[str] = "The request failed."
    challenge: str | None = None  # a WWW-Authenticate value for a 401/403 that says more (relay.oauth)

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


class InvalidRequestError(HitlError):
    """The body or query does not fit the schema; ``details`` lists the fields."""
    code, status, default_message = "invalid_request", 422, "The request is not valid."


class PayloadTooLargeError(InvalidRequestError):
    """The body is larger than the relay accepts."""
    code, status, default_message = "payload_too_large", 413, "The request body is too large."


class DefaultAnswerNotAChoiceError(InvalidRequestError):
    """A question with choices names a default answer that is not one of them."""
    code, status, default_message = "default_answer_not_a_choice", 422, "The default answer must be one of the choices."


class MalformedJsonError(HitlError):
    """The body is not JSON."""
    code, status, default_message = "malformed_json", 400, "The request body is not valid JSON."


class JsonTooDeepError(MalformedJsonError):
    """The JSON nests deeper than the relay parses (arrays or objects inside each other)."""
    code, default_message = "json_too_deep", "The JSON nests too deeply to be parsed."


class AuthenticationError(HitlError):
    """No credential, or one the relay does not accept (unknown, revoked, expired)."""
    code, status, default_message = "unauthorized", 401, "Authentication failed: send a valid API key or token."


class PermissionDeniedError(HitlError):
    """The credential is valid but may not do this (an agent key answering, for example)."""
    code, status, default_message = "forbidden", 403, "This credential may not do that."


class HostNotAllowedError(HitlError):
    """The Host header names another site: a DNS-rebinding attempt or a misconfiguration."""
    code, status, default_message = "host_not_allowed", 403, "The Host header is not one this relay serves."


class OriginNotAllowedError(HitlError):
    """A web page from another origin tried to call the relay."""
    code, status, default_message = "origin_not_allowed", 403, "Requests from this Origin are not allowed."


class NotFoundError(HitlError):
    """No such route or resource."""
    code, status, default_message = "not_found", 404, "Not found."


class RequestNotFoundError(NotFoundError):
    """No request has that id."""
    code, default_message = "request_not_found", "No request has that id."


class ApiKeyNotFoundError(NotFoundError):
    """No API key has that prefix."""
    code, default_message = "api_key_not_found", "No API key has that prefix."


# -- always-allow rules (issue 11) --
class RuleNotFoundError(NotFoundError):
    """No always-allow rule has that id."""
    code, default_message = "rule_not_found", "No such rule."


class MethodNotAllowedError(HitlError):
    """The route exists but not with this HTTP method."""
    code, status, default_message = "method_not_allowed", 405, "Method not allowed."


class RequestClosedError(HitlError):
    """The request is no longer pending."""
    code, status, default_message = "request_closed", 409, "The request is no longer pending."


class AlreadyAnsweredError(RequestClosedError):
    """Somebody answered the request first."""
    code, default_message = "already_answered", "The request was already answered."


class RequestExpiredError(RequestClosedError):
    """The request expired before this answer arrived."""
    code, default_message = "request_expired", "The request has expired."


class RequestCancelledError(RequestClosedError):
    """The request was cancelled."""
    code, default_message = "request_cancelled", "The request was cancelled."


class AgentExistsError(HitlError):
    """An agent with that name exists already."""
    code, status, default_message = "agent_exists", 409, "An agent with that name exists already."


class RequestExistsError(HitlError):
    """A client-chosen request id is taken already."""
    code, status, default_message = "request_exists", 409, "A request with that id exists already."


class KeyMissingError(HitlError):
    """An encrypted request needs a public key that nobody registered (desk or agent)."""
    code, status, default_message = "key_missing", 409, "No public key is registered for end-to-end encryption."


class KeyChangedError(HitlError):
    """The peer's public key differs from the pinned one."""
    code, status, default_message = "key_changed", 409, "The peer's public key changed since it was trusted."


class AgentNameConflictError(HitlError):
    """A new agent id carries the name of a trusted agent but another key: a possible impersonation."""
    code, status, default_message = "agent_name_conflict", 409, "A different key for a known agent name."


class DecryptionError(HitlError):
    """A ciphertext could not be opened: wrong key, tampered with, or not an envelope."""
    code = "decryption_failed"
    status = 422
    default_message = "The encrypted message could not be decrypted (wrong key or tampered)."


class BindingError(HitlError):
    """A decrypted message belongs to another request or is stale: refused as a replay or swap."""
    code = "envelope_mismatch"
    status = 422
    default_message = "The encrypted message belongs to another request (replayed or swapped)."


class RateLimitedError(HitlError):
    """Too many failed attempts; try again later."""
    code, status, default_message = "rate_limited", 429, "Too many failed attempts; try again later."


class TooManyConnectionsError(HitlError):
    """The relay holds as many connections as it serves; only the owner gets in until some close."""
    code = "too_many_connections"
    status = 503
    default_message = "The relay is at its connection limit; try again in a few seconds."


class TooManyPendingError(HitlError):
    """The agent has as many requests pending as the relay allows (``--max-pending``): wait for
    answers, or cancel some, before asking more."""
    code = "too_many_pending"
    status = 429
    default_message = "This agent has too many pending requests."


class InternalError(HitlError):
    """The relay failed; this is a bug and is logged with its traceback."""
    code, status, default_message = "internal_error", 500, "Internal error."


class StorageFullError(HitlError):
    """The relay's disk (or database size limit) is full: nothing was stored; retry once space is freed."""
    code = "storage_full"
    status = 507
    default_message = "The relay's storage is full: nothing was saved. Free disk space and try again."


class RelayUnavailableError(HitlError):
    """No relay answered at the configured address."""
    code, status, default_message = "relay_unavailable", 503, "No relay answered at the configured address."


class RelayStartError(HitlError):
    """The relay could not start; the message says what is wrong and how to recover."""
    code, status, default_message = "relay_start_failed", 500, "The relay could not start."


class ServerUrlError(HitlError):
    """The relay address (``HITL_SERVER_URL`` or ``--url``) is not an http(s) URL."""
    code, status, default_message = "invalid_server_url", 400, "The relay address must look like http://127.0.0.1:8765."


# -- LAN listener (issue 13) ---------------------------------------------------------------------
class NotOnLanError(NotFoundError):
    """The route exists on the loopback listener only: agents, MCP and the owner never reach the LAN one."""
    code = "not_on_lan"
    status = 404
    default_message = "This route is served on the relay's loopback address only, never on the LAN."


# -- agent hooks (hitl-desk hooks) -----------------------------------------------------------------
class HookSettingsError(HitlError):
    """A client's settings file cannot be read as the JSON or TOML it must be; it was left unchanged."""
    code, default_message = "hook_settings_invalid", "The client's settings file is not valid; it was left unchanged."


# -- OAuth 2.1 authorization server (relay/oauth) -------------------------------------------------
class InsufficientScopeError(PermissionDeniedError):
    """An OAuth access token without the scope this call needs (RFC 6750 §3.1)."""
    code = "insufficient_scope"
    default_message = "The access token does not allow this; authorise the client again with the scope."


class OAuthClientNotFoundError(NotFoundError):
    """No authorised OAuth client has this id."""
    code, default_message = "oauth_client_not_found", "No OAuth client has that id."


# -- pairing and paired devices (issue 13, DESIGN.md §7); compact: the module is near its size limit
class PairingNotFoundError(HitlError):
    """No pairing has that id: the link is mistyped, or the relay restarted since it was made."""
    code, status, default_message = "pairing_not_found", 404, "No pairing has that id: start a new one."

class PairingExpiredError(HitlError):
    """The pairing link is older than its 5 minutes: start a new one on the desk."""
    code, status, default_message = "pairing_expired", 410, "This pairing link expired: start a new one."

class PairingUsedError(HitlError):
    """The pairing link was used already (it works once): start a new one on the desk."""
    code, status, default_message = "pairing_used", 409, "This pairing link was used already: start a new one."

class PairingFailedError(HitlError):
    """The pairing stopped (cancelled on the desk, or a step out of order); nothing was shared."""
    code, status, default_message = "pairing_failed", 409, "The pairing stopped; nothing was shared."

class PairingSecretError(PairingFailedError):
    """A pairing message was not made with the link's secret: the other side never saw the QR code."""
    code, status, default_message = "pairing_secret_mismatch", 403, "The other side does not know the link's secret."

class PairingCodeMismatchError(PairingFailedError):
    """The verification codes differ (someone is in the middle, or a typo): the pairing is void."""
    code, default_message = "pairing_code_mismatch", "The verification codes differ: pairing stopped, nothing shared."

class DeviceNotFoundError(NotFoundError):
    """No paired device has that id."""
    code, default_message = "device_not_found", "No paired device has that id."

class DeviceAuthError(AuthenticationError):
    """A device request without a valid signature of a paired device: pair it first."""
    code, default_message = "device_unauthorized", "Not signed by a paired device: pair it (hitl-desk pair URL)."

class DeviceRevokedError(DeviceAuthError):
    """The device was revoked on the desk: pair it again to use it."""
    code, default_message = "device_revoked", "This device was revoked on the desk: pair it again."

class SignatureExpiredError(DeviceAuthError):
    """A signed request's timestamp is too far from the relay's clock (``details.server_time``)."""
    code, default_message = "signature_expired", "The request's timestamp is too old or ahead: check the clock."

class SignatureReplayedError(DeviceAuthError):
    """A signed request was sent before (same nonce): a replay, refused."""
    code, default_message = "signature_replayed", "This signed request was seen before: a replay, refused."

# -- the LAN switch (issue 13: the TUI turns the LAN listener on and off)
class LanUnavailableError(HitlError):
    """The LAN listener could not be turned on (an address not of this machine, a port in use)."""
    code, status, default_message = "lan_unavailable", 409, "The LAN listener could not be turned on."


_BY_CODE: dict[str, type[HitlError]] = {}


def _index(cls: type[HitlError]) -> None:
    _BY_CODE.setdefault(cls.code, cls)
    for sub in cls.__subclasses__():
        _index(sub)


_index(HitlError)


def error_from_payload(status: int, payload: Any) -> HitlError:
    """Rebuild the exception the relay raised from its JSON error body."""
    code, message, details = None, None, None
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            code, message, details = error.get("code"), error.get("message"), error.get("details")
        message = message or payload.get("detail")
    cls = _BY_CODE.get(str(code)) if code else None
    if cls is None:
        cls = _fallback_for_status(status)
    return cls(str(message) if message else None, details=details)


def _fallback_for_status(status: int) -> type[HitlError]:
    for cls in (AuthenticationError, PermissionDeniedError, NotFoundError, RequestClosedError,
                PayloadTooLargeError, InvalidRequestError, RateLimitedError):
        if cls.status == status:
            return cls
    return InternalError if status >= 500 else HitlError


__all__ = sorted(name for name, value in list(globals().items())
                 if isinstance(value, type) and issubclass(value, HitlError)) + ["error_from_payload"]
"""Every catalog class and ``error_from_payload``: derived, so adding an error is one class, not two edits."""
