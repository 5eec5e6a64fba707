"""A small client of the Taller REST API that turns every failure into one readable message."""

from typing import Any

import requests


class TallerError(Exception):
    """A failure to report as `taller: error: <message>` with exit status 1."""


class ApiError(Exception):
    """A failure to report on one line: ``str(error)`` is the message."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def flatten_errors(body: Any, prefix: str = "") -> list[str]:
    """{"resources": {"gpus": ["Too many."]}} -> ["resources.gpus: Too many."]; detail has no prefix."""
    if isinstance(body, dict):
        parts = []
        for key, value in body.items():
            name = key if key not in {"detail", "non_field_errors"} else ""
            parts += flatten_errors(value, f"{prefix}.{name}".strip(".") if name else prefix)
        return parts
    if isinstance(body, list):
        parts = []
        for index, item in enumerate(body):
            if isinstance(item, (dict, list)):
                parts += flatten_errors(item, f"{prefix}[{index}]")
            else:
                parts += flatten_errors(item, prefix)
        return parts
    text = " ".join(str(body).split())
    return [f"{prefix}: {text}" if prefix else text]


class Api:
    def __init__(self, url: str, token: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Token {token}", "Accept": "application/json", "User-Agent": "taller-cli"}
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json: Any = None,
        body: tuple | None = None,
    ) -> Any:
        """JSON of a successful answer (None for 204); ApiError for anything else. ``body``: raw
        bytes to send instead of JSON, as (bytes, content type)."""
        url = path if path.startswith(("http://", "https://")) else f"{self.url}/api/v1/{path.lstrip('/')}"
        if params:
            params = {key: value for key, value in params.items() if value is not None}
        try:
            raw = {"data": body[0], "headers": {"Content-Type": body[1]}} if body else {"json": json}
            response = self.session.request(method, url, params=params, timeout=self.timeout, **raw)
        except requests.Timeout:
            raise ApiError(f"{self.url} did not answer within {self.timeout:g} s") from None
        except requests.ConnectionError:
            raise ApiError(f"cannot reach {self.url}: is the address right and the portal up?") from None
        except requests.RequestException as error:
            raise ApiError(f"request to {self.url} failed: {error}") from None
        return self._answer(response)

    def _answer(self, response: requests.Response) -> Any:
        status = response.status_code
        if status == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if status < 400 and body is not None:
            return body
        if status < 400:
            kind = response.headers.get("Content-Type", "no content type")
            raise ApiError(
                f"unexpected answer from {self.url} (HTTP {status}, {kind}): is it a Taller portal?"
            )
        message = "; ".join(flatten_errors(body)) if body not in (None, {}, []) else response.reason
        if status == 401:
            raise ApiError(
                f"authentication failed: {message} (run `taller login` with a valid token)", status
            )
        if status >= 500:
            raise ApiError(f"the portal failed (HTTP {status}); try again later or tell its admins", status)
        raise ApiError(f"{message} (HTTP {status})", status)

    def download(self, endpoint: str, *, binary: bool = False, **params):
        """A file the API serves (a CSV export, an artifact), in pieces: text, or bytes when
        ``binary``; ApiError for a failure."""
        url = f"{self.url}/api/v1/{endpoint.lstrip('/')}"
        params = {key: value for key, value in params.items() if value is not None}
        try:
            response = self.session.get(url, params=params, timeout=self.timeout, stream=True)
        except requests.RequestException:
            raise ApiError(f"cannot reach {self.url}: is the address right and the portal up?") from None
        if response.status_code >= 400:
            self._answer(response)  # raises with the portal's message
        response.encoding = "utf-8"
        yield from response.iter_content(chunk_size=65536, decode_unicode=not binary)

    def get(self, path: str, **params) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any = None) -> Any:
        return self.request("POST", path, json=json if json is not None else {})

    def pages(self, path: str, limit: int, **params) -> list:
        """Results of a paginated list ({next, results}: page numbers or cursors), up to ``limit``."""
        results: list = []
        answer = self.get(path, **params)
        while True:
            results += answer.get("results", [])
            following = answer.get("next")
            if len(results) >= limit or not following:
                return results[:limit]
            answer = self.request("GET", following)


def api() -> Api:
    """The portal of the saved configuration (``taller login``), with its token."""
    from .config import load_settings

    settings = load_settings()
    return Api(settings.url, settings.token)
