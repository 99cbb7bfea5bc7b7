"""What the HTTP API providers (``openai``, ``anthropic``; SPEC S4.3) make of their
settings: the model and the API key a request uses, and that they keep no sessions.

Both are :class:`ApiSettings`, which keeps the settings (the key as a ``SecretStr``, so
no repr of a provider shows it) and names the endpoint in messages:

* the model: the one named when sending, else the ``<provider>_model``
  setting, else ``InvalidInput`` naming that setting.
* the key: the ``<provider>_api_key`` setting when set; else the vendor's own
  environment variable (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``) — but only for the
  vendor's host, whose key that variable holds: it is never sent to another endpoint (a
  local server, someone else's proxy), which gets no key at all (``None``). The
  vendor's host without any key is ``InvalidInput`` before anything is sent.

* titles: the same model setting and key, or a ``ProviderError`` (the title is then
  derived from the text, :meth:`ApiSettings._title_request`).

* sessions: both APIs are stateless, so a request to resume a session is refused with
  ``ProviderSessionInvalid`` before anything is sent (:meth:`ApiSettings._no_session`)
  and the pipeline retries it with the earlier messages (SPEC S4.2).

The key is kept out of error messages by :mod:`~threadkeep.runtime.providers.http_errors`.
"""

from __future__ import annotations

import os
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import SecretStr

from threadkeep.errors import InvalidInput, ProviderError, ProviderSessionInvalid
from threadkeep.redact import redact_text

__all__ = ["ApiSettings"]


class ApiSettings:
    """The settings of an HTTP API provider (module docstring); its subclass names the
    vendor: :attr:`vendor_host`, :attr:`key_variable`, :attr:`model_example` and the
    :attr:`path` requests go to under ``base_url``.

    ``base_url`` is the API root; ``api_key`` ``None`` means none configured; ``model``
    is the default model; ``max_retries`` the SDK's retries.
    """

    name: str  # a plain attribute, as the Provider protocol has it
    #: The vendor's host, and the environment variable holding its key.
    vendor_host: ClassVar[str]
    key_variable: ClassVar[str]
    #: Models the "no model" message suggests.
    model_example: ClassVar[str]
    #: The path of the endpoint under ``base_url``.
    path: ClassVar[str]

    def __init__(
        self, *, base_url: str, api_key: SecretStr | str | None, model: str | None, max_retries: int
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.max_retries = max_retries
        # Kept as a SecretStr, so no repr or debugger view of the provider shows it.
        self._api_key = SecretStr(api_key) if isinstance(api_key, str) else api_key

    @property
    def endpoint(self) -> str:
        """The URL requests go to, as messages name it (a password in it masked)."""
        return redact_text(self.base_url.rstrip("/") + self.path)[0]

    def _model(self, requested: str | None) -> str:
        """``requested``, else the ``<provider>_model`` setting, else ``InvalidInput``."""
        model = requested or self.model
        if not model:
            name = self.name
            raise InvalidInput(
                f"the {name} provider has no model: set the {name}_model setting "
                f"(THREADKEEP_{name.upper()}_MODEL, e.g. {self.model_example}) or name a "
                "model when sending"
            )
        return model

    def _key(self) -> str | None:
        """The key to send, or ``None`` to send none (module docstring)."""
        if self._api_key is not None:
            return self._api_key.get_secret_value()
        if urlsplit(self.base_url).hostname != self.vendor_host:
            return None
        key = os.environ.get(self.key_variable, "").strip()
        if not key:
            name = self.name
            raise InvalidInput(
                f"the {name} provider has no API key for {self.endpoint}: set the "
                f"{name}_api_key setting (THREADKEEP_{name.upper()}_API_KEY) or "
                f"{self.key_variable}"
            )
        return key

    def _title_request(self) -> tuple[str, str | None]:
        """The model and key a title request uses, or ``ProviderError``.

        Titles are made in the background after a reply, where a ``ProviderError``
        means "derive the title instead" (S4.6); a send may name its model, so the run
        can have succeeded without the ``<provider>_model`` setting.
        """
        try:
            return self._model(None), self._key()
        except InvalidInput as error:
            raise ProviderError(f"no title: {error.message}") from None

    def _no_session(self, session_id: str | None, why: str) -> None:
        """Refuse a session to resume (``why`` says why the API keeps none)."""
        if session_id is not None:
            raise ProviderSessionInvalid(
                f"the {self.name} provider keeps no sessions ({why}), so session "
                f"{session_id!r:.60} cannot be resumed; send without a session id, with "
                "the earlier messages in the request"
            )
