"""A real OpenID Connect provider for tests: ``oidc-provider`` on Node.js, started on 127.0.0.1,
and a scripted browser that completes its authorization code + PKCE login.

``tests/auth/oidc_provider/`` holds the provider script and its pinned npm package
(``scripts/test.sh`` runs ``npm ci`` there). Without node or the package the tests skip, except
on CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc_provider"
REDIRECT_URI = "http://127.0.0.1:1/callback"  # never called: the scripted client stops there
START_TIMEOUT_S = 30.0


def why_no_provider() -> str | None:
    """Why the real provider cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (apt: nodejs)"
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        return f"oidc-provider is not installed (cd {PROVIDER_DIR} && npm ci)"
    return None


def require_provider() -> None:
    """Skip without the provider; fail instead on CI."""
    reason = why_no_provider()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the real OpenID provider is required on CI: {reason}")
    pytest.skip(reason)


def new_signing_key(kid: str) -> tuple[rsa.RSAPrivateKey, dict[str, object]]:
    """A fresh RSA key and its private JWK (RS256, ``kid``)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    jwk.update(kid=kid, use="sig", alg="RS256")
    return key, jwk


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RealProvider:
    """One ``oidc-provider`` process; :meth:`restart` with new keys rotates them."""

    port: int = field(default_factory=_free_port)
    keys: list[rsa.RSAPrivateKey] = field(default_factory=list)
    _proc: subprocess.Popen[bytes] | None = None
    _dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ilvb-oidc-")))

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def public_pem(self) -> bytes:
        """The current signing key's public key (PEM), as an attacker could download it."""
        return (
            self.keys[0]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def start(self, kid: str = "key-1") -> None:
        key, jwk = new_signing_key(kid)
        self.keys = [key]
        path = self._dir / f"{kid}.json"
        path.write_text(json.dumps({"keys": [jwk]}))
        path.chmod(0o600)
        env = {
            **os.environ,
            "OIDC_PORT": str(self.port),
            "OIDC_KEYS": str(path),
            "OIDC_REDIRECT_URI": REDIRECT_URI,
        }
        self._proc = subprocess.Popen(
            ["node", str(PROVIDER_DIR / "provider.mjs")],
            cwd=PROVIDER_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                r = httpx.get(self.issuer + "/.well-known/openid-configuration", timeout=2)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self._proc.poll() is not None:
                out = self._proc.stdout.read().decode() if self._proc.stdout else ""
                raise RuntimeError(f"oidc-provider exited ({self._proc.returncode}): {out}")
            if time.monotonic() > deadline:
                raise TimeoutError("oidc-provider did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def restart(self, kid: str) -> None:
        """Stop and start on the same port with a new signing key ``kid`` (a key rotation)."""
        self.stop()
        self.start(kid)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def login(self, user: str, client_id: str = "ilvb-app") -> str:
        """Log ``user`` in through the authorization code + PKCE flow; the ID token.

        The scripted browser follows redirects, fills the provider's login and consent forms
        (devInteractions), stops at the redirect URI, and redeems the code with the verifier.
        """
        verifier = secrets.token_urlsafe(48)
        challenge = _b64(hashlib.sha256(verifier.encode()).digest())
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        with httpx.Client(base_url=self.issuer, follow_redirects=False, timeout=10) as browser:
            r = browser.get(
                "/auth",
                params={
                    "client_id": client_id,
                    "redirect_uri": REDIRECT_URI,
                    "response_type": "code",
                    "scope": "openid",
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                    "state": state,
                    "nonce": nonce,
                },
            )
            code = None
            for _ in range(12):
                if r.status_code in (302, 303):
                    location = urljoin(str(r.url), r.headers["location"])
                    if location.startswith(REDIRECT_URI):
                        query = parse_qs(urlsplit(location).query)
                        assert query.get("state") == [state], query
                        code = query["code"][0]
                        break
                    r = browser.get(location)
                elif r.status_code == 200:
                    html = r.text
                    action = unescape(re.search(r'<form[^>]*action="([^"]+)"', html).group(1))  # type: ignore[union-attr]
                    prompt = re.search(r'name="prompt" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
                    form = {"prompt": prompt}
                    if prompt == "login":
                        form.update(login=user, password="any password")
                    r = browser.post(urljoin(str(r.url), action), data=form)
                else:
                    raise AssertionError(f"login failed: {r.status_code} {r.text[:500]}")
            assert code is not None, "the login did not reach the redirect URI"
            token = browser.post(
                "/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT_URI,
                    "client_id": client_id,
                    "code_verifier": verifier,
                },
            )
            assert token.status_code == 200, token.text
            id_token = token.json()["id_token"]
            assert jwt.decode(id_token, options={"verify_signature": False})["nonce"] == nonce
            return str(id_token)
