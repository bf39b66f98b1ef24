"""Local stand-ins for Microsoft's identity services, on loopback, for production-mode tests.

- `BotFrameworkKeys`: the Bot Framework's OpenID metadata and key set (JWKS), with a key
  the tests generate, and `sign` to make tokens the way the Bot Framework signs activities
  (issuer https://api.botframework.com, audience the app id, the `serviceurl` claim, the key
  endorsed for msteams). It can be told to hang, like an unanswering key endpoint.
- `Entra`: the client-credentials grant (over TLS: MSAL takes only an https authority; the
  certificate is generated here and trusted through REQUESTS_CA_BUNDLE), and an App
  Service managed-identity endpoint (IDENTITY_ENDPOINT / IDENTITY_HEADER, as MSAL reads
  them). Each records what it was asked and hands out numbered tokens.

The bot is pointed at them through its settings only (the SDK's own names, see
adapters/teams/connector.py); nothing in the bot is patched.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import itertools
import json
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ISSUER = "https://api.botframework.com"
KID = "standin-key-1"
WEBCHAT_KID = "standin-key-webchat"
"""A published key endorsed for webchat only."""


class _Site:
    """An aiohttp app on 127.0.0.1, optionally over TLS."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def _start(self, app: web.Application, tls: ssl.SSLContext | None = None) -> None:
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=tls).start()
        host, port = self._runner.addresses[0][:2]
        self.base = f"{'https' if tls else 'http'}://{host}:{port}"

    async def __aexit__(self, *exc: object) -> None:
        if self._runner:
            await self._runner.cleanup()


class BotFrameworkKeys(_Site):
    def __init__(self) -> None:
        super().__init__()
        self.key = rsa.generate_private_key(65537, 2048)
        self.webchat_key = rsa.generate_private_key(65537, 2048)
        self.hang = False
        self.fetches = 0

    @property
    def metadata_url(self) -> str:
        return f"{self.base}/v1/.well-known/openidconfiguration"

    async def __aenter__(self) -> BotFrameworkKeys:
        app = web.Application()
        app.router.add_get("/v1/.well-known/openidconfiguration", self._metadata)
        app.router.add_get("/keys", self._keys)
        await self._start(app)
        return self

    async def _metadata(self, request: web.Request) -> web.Response:
        self.fetches += 1
        if self.hang:
            await asyncio.sleep(3600)
        return web.json_response({"issuer": ISSUER, "jwks_uri": f"{self.base}/keys"})

    async def _keys(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "keys": [
                    _jwk(self.key, KID, ["msteams", "webchat", "skype"]),
                    _jwk(self.webchat_key, WEBCHAT_KID, ["webchat"]),
                ]
            }
        )

    def sign(
        self,
        app_id: str,
        service_url: str,
        *,
        kid: str | None = KID,
        alg: str = "RS256",
        key: Any = None,
        **claims: Any,
    ) -> str:
        """An Authorization header as the Bot Framework sends it; `claims` override (None
        removes one)."""
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": app_id,
            "exp": now + 3600,
            "nbf": now - 60,
            "serviceurl": service_url,
        }
        body = {k: v for k, v in {**body, **claims}.items() if v is not None}
        headers = {"kid": kid} if kid else {}
        if alg == "none":
            return "Bearer " + jwt.encode(body, None, algorithm="none", headers=headers)
        signer = key or (self.webchat_key if kid == WEBCHAT_KID else self.key)
        return "Bearer " + jwt.encode(body, signer, algorithm=alg, headers=headers)


def _jwk(key: rsa.RSAPrivateKey, kid: str, endorsements: list[str]) -> dict[str, Any]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**public, "kid": kid, "use": "sig", "endorsements": endorsements}


@dataclass
class Asked:
    path: str
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class Entra(_Site):
    app_id: str = ""
    secret: str = ""
    expires_in: int = 3600
    refuse: bool = False
    asked: list[Asked] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    ca_file: str = ""
    msi_header: str = "standin-identity-header"

    def __post_init__(self) -> None:
        super().__init__()
        self._numbers = itertools.count(1)
        self.msi_url = ""

    def authority(self, tenant: str = "botframework.com") -> str:
        return f"{self.base}/{tenant}"

    async def start(self, directory: Path) -> Entra:
        self.ca_file = str(directory / "standin-ca.pem")
        tls = _tls(directory)
        app = web.Application()
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._discovery)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        await self._start(app, tls)
        # The managed-identity endpoint is plain http on loopback, as App Service's is.
        self._msi = _Site()
        msi = web.Application()
        msi.router.add_get("/msi/token", self._msi_token)
        await self._msi._start(msi)
        self.msi_url = f"{self._msi.base}/msi/token"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._msi.__aexit__()
        await super().__aexit__()

    def _issue(self) -> str:
        token = f"standin-token-{next(self._numbers)}"
        self.issued.append(token)
        return token

    async def _discovery(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        base = f"{self.base}/{tenant}"
        return web.json_response(
            {
                "issuer": f"{base}/v2.0",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            }
        )

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.asked.append(Asked(request.path, {k: str(v) for k, v in form.items()}, {}))
        good = form.get("client_id") == self.app_id and form.get("client_secret") == self.secret
        if self.refuse or not good or form.get("grant_type") != "client_credentials":
            return web.json_response(
                {"error": "invalid_client", "error_description": "AADSTS7000215: bad secret"},
                status=401,
            )
        return web.json_response(
            {"token_type": "Bearer", "expires_in": self.expires_in, "access_token": self._issue()}
        )

    async def _msi_token(self, request: web.Request) -> web.Response:
        self.asked.append(Asked(request.path, dict(request.query), dict(request.headers)))
        if self.refuse or request.headers.get("X-IDENTITY-HEADER") != self.msi_header:
            return web.json_response({"error": "invalid_request"}, status=400)
        return web.json_response(
            {
                "access_token": self._issue(),
                "expires_on": str(int(time.time()) + self.expires_in),
                "resource": request.query.get("resource", ""),
                "token_type": "Bearer",
            }
        )


def _tls(directory: Path) -> ssl.SSLContext:
    """A certificate for 127.0.0.1, made now, and the file that trusts it."""
    key = rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stand-in")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "standin-ca.pem", directory / "standin-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context
