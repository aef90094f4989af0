"""OAuth token endpoint (client credentials, password, JWT bearer) and the bearer check on every data call."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession

from audiences_dagster.sandbox import Sandbox

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _assertion(sandbox: Sandbox, key_pem: bytes | None = None, **claims) -> str:
    body = {"iss": sandbox.credentials.client_id, "sub": sandbox.credentials.username,
            "aud": "https://login.salesforce.com", "exp": int(time.time()) + 180, **claims}
    return jwt.encode(body, key_pem or sandbox.credentials.jwt_key_path.read_bytes(), algorithm="RS256")


def _token(http: requests.Session, sandbox: Sandbox, **form) -> requests.Response:
    return http.post(sandbox.token_url, data=form)


def test_client_credentials_flow_issues_a_token_for_the_sandbox_instance(sandbox, http):
    response = http.post(sandbox.token_url, data={"grant_type": "client_credentials"},
                         auth=(sandbox.credentials.client_id, sandbox.credentials.client_secret))
    body = response.json()
    assert response.status_code == 200
    assert body["instance_url"] == sandbox.salesforce_url and body["token_type"] == "Bearer"
    assert body["issued_at"].isdigit() and body["id"].startswith("https://login.salesforce.com/id/")
    sf = Salesforce(instance_url=body["instance_url"], session_id=body["access_token"], session=http)
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1


def test_jwt_bearer_flow_issues_a_token(sandbox, http):
    response = _token(http, sandbox, grant_type=JWT_GRANT, assertion=_assertion(sandbox))
    assert response.status_code == 200
    sf = Salesforce(instance_url=sandbox.salesforce_url, session_id=response.json()["access_token"], session=http)
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 30


def test_jwt_signed_with_another_key_is_an_invalid_assertion(sandbox, http):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    response = _token(http, sandbox, grant_type=JWT_GRANT, assertion=_assertion(sandbox, stranger))
    assert (response.status_code, response.json()) == (
        400, {"error": "invalid_grant", "error_description": "invalid assertion"})


def test_jwt_for_another_audience_is_refused(sandbox, http):
    response = _token(http, sandbox, grant_type=JWT_GRANT, assertion=_assertion(sandbox, aud="https://evil.test"))
    assert response.json() == {"error": "invalid_grant", "error_description": "audience is invalid"}


def test_expired_jwt_is_refused(sandbox, http):
    response = _token(http, sandbox, grant_type=JWT_GRANT, assertion=_assertion(sandbox, exp=int(time.time()) - 5))
    assert response.json()["error_description"] == "expired authorization code"


def test_jwt_for_an_unknown_user_is_not_approved(sandbox, http):
    response = _token(http, sandbox, grant_type=JWT_GRANT, assertion=_assertion(sandbox, sub="nobody@example.com"))
    assert response.json()["error_description"] == "user hasn't approved this consumer"


def test_wrong_client_secret_is_invalid_client(sandbox, http):
    response = http.post(sandbox.token_url, data={"grant_type": "client_credentials"},
                         auth=(sandbox.credentials.client_id, "wrong"))
    assert (response.status_code, response.json()["error"]) == (400, "invalid_client")


def test_password_flow_needs_the_security_token_appended(sandbox, http):
    creds = sandbox.credentials
    form = {"grant_type": "password", "client_id": creds.client_id, "client_secret": creds.client_secret,
            "username": creds.username}
    assert _token(http, sandbox, **form, password=creds.password).json()["error"] == "invalid_grant"
    assert "access_token" in _token(http, sandbox, **form, password=creds.password + creds.security_token).json()


def test_unsupported_grant_type_is_named(sandbox, http):
    assert _token(http, sandbox, grant_type="authorization_code").json()["error"] == "unsupported_grant_type"


def test_expired_token_gets_invalid_session_id(sandbox, sf):
    sandbox.advance_clock(timedelta(seconds=sandbox.salesforce_settings.session_seconds + 1))
    with pytest.raises(SalesforceExpiredSession) as caught:
        sf.query("SELECT Id FROM Contact")
    assert caught.value.status == 401
    assert caught.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID",
                                     "fields": []}]


def test_revoked_tokens_get_invalid_session_id_with_www_authenticate(sandbox, http, sf):
    sandbox.expire_salesforce_sessions()
    response = http.get(f"{sandbox.salesforce_url}/services/data/v59.0/query/", params={"q": "SELECT Id FROM Lead"},
                        headers={"Authorization": f"Bearer {sf.session_id}"})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Token"
    assert response.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_salesforce_is_served_over_tls_that_needs_the_sandbox_certificate(sandbox):
    plain = requests.Session()
    plain.trust_env = False
    with pytest.raises(requests.exceptions.SSLError):
        plain.get(f"{sandbox.salesforce_url}/services/data/")


def test_both_listeners_bind_to_loopback_only(sandbox):
    assert sandbox.salesforce_url.startswith("https://127.0.0.1:")
    assert sandbox.hubspot_url.startswith("http://127.0.0.1:")
    assert {t._server.server_address[0] for t in sandbox._threads} == {"127.0.0.1"}
