"""The simulated line system signs its users in through Yici and keeps accounts Yici provisions.

``enable_sso(server, issuer=…, client_id=…, client_secret=…)`` makes it an OpenID Connect relying
party ("登录 with Yici"): ``/login`` starts an authorization-code request with PKCE (S256), state and
nonce; ``/callback`` exchanges the code (client_secret_basic), checks the ID token's RS256 signature
against Yici's JWKS, its issuer, audience, nonce and expiry, and opens a session (a cookie named after
the system, since the simulators share 127.0.0.1); ``/home`` shows who is signed in and re-validates
the session with Yici's userinfo on every visit (refreshing the token when it has expired), so a
user who signed out of Yici, or was disabled, is signed out here too; ``/logout`` ends the session and
sends the browser to Yici's end-session endpoint.

``enable_scim(server, token=…)`` adds a SCIM 2.0 server at ``/scim/v2`` (Users and Groups, filter
``eq``, paging, PATCH) backed by the simulator's SQLite file; it is strict where Yici must be
correct (a boolean must be a JSON boolean) and ``quirk`` makes it answer out of spec for tests.
"""

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from jwcrypto import jwk, jwt

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_PREFIX = "/scim/v2"

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --- small HTTP helpers ------------------------------------------------------------------------
def _send(handler, status: int, body: str = "", *, content_type="text/html; charset=utf-8", headers=None):
    data = body.encode()
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.send_header("Cache-Control", "no-store")
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(data)


def _redirect(handler, location: str, *, cookie: str | None = None):
    headers = {"Location": location}
    if cookie is not None:
        headers["Set-Cookie"] = cookie
    _send(handler, 302, "", headers=headers)


def _query(handler) -> dict[str, str]:
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(handler.path).query).items()}


def _read_body(handler) -> bytes:
    try:
        length = int(handler.headers.get("Content-Length", "0"))
    except ValueError:
        length = 0
    return handler.rfile.read(max(0, min(length, 1024 * 1024)))


def _http_json(method: str, url: str, *, data: dict | None = None, headers=None, timeout=10.0) -> tuple[int, dict]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    if body is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}


# --- relying party ---------------------------------------------------------------------------------
class RelyingParty:
    def __init__(self, server, *, issuer: str, client_id: str, client_secret: str, scope: str = "openid profile",
                 report_waiting: bool = False):
        self.server = server
        self.report_waiting = report_waiting
        self.issuer = issuer.rstrip("/")
        self.client_id, self.client_secret, self.scope = client_id, client_secret, scope
        self.lock = threading.Lock()
        self.pending: dict[str, dict] = {}  # state → verifier, nonce
        self.sessions: dict[str, dict] = {}  # session id → tokens and claims
        self._metadata: dict | None = None
        self._jwks: jwk.JWKSet | None = None
        self.cookie = f"sim_{re.sub(r'[^A-Za-z0-9]', '_', server.name)}_session"

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def metadata(self) -> dict:
        if self._metadata is None:
            status, data = _http_json("GET", self.issuer + "/.well-known/openid-configuration")
            if status != 200 or data.get("issuer", "").rstrip("/") != self.issuer:
                raise RuntimeError(f"discovery at {self.issuer} failed ({status})")
            self._metadata = data
        return self._metadata

    def keys(self, *, refresh: bool = False) -> jwk.JWKSet:
        if self._jwks is None or refresh:
            request = urllib.request.Request(self.metadata()["jwks_uri"])
            with _opener.open(request, timeout=10) as response:
                self._jwks = jwk.JWKSet.from_json(response.read())
        return self._jwks

    def _basic(self) -> dict:
        pair = f"{urllib.parse.quote(self.client_id)}:{urllib.parse.quote(self.client_secret)}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    def session_of(self, handler) -> tuple[str, dict] | tuple[None, None]:
        cookies = handler.headers.get("Cookie", "")
        for part in cookies.split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.cookie:
                with self.lock:
                    session = self.sessions.get(value)
                if session:
                    return value, session
        return None, None

    # routes ------------------------------------------------------------------------------------
    def login(self, handler):
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        with self.lock:
            self.pending[state] = {"verifier": verifier, "nonce": nonce, "at": time.time()}
        params = {
            "response_type": "code", "client_id": self.client_id, "redirect_uri": self.base + "/callback",
            "scope": self.scope, "state": state, "nonce": nonce, "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        _redirect(handler, self.metadata()["authorization_endpoint"] + "?" + urllib.parse.urlencode(params))

    def callback(self, handler):
        query = _query(handler)
        with self.lock:
            pending = self.pending.pop(query.get("state", ""), None)
        if pending is None or time.time() - pending["at"] > 600:
            return _send(handler, 400, _page(self.server.name, "登录失败：state 无效或已过期。"))
        if "error" in query:
            return _send(handler, 403, _page(self.server.name, f"登录被拒绝：{html.escape(query['error'])}"))
        if query.get("iss", self.issuer).rstrip("/") != self.issuer:
            return _send(handler, 400, _page(self.server.name, "登录失败：签发方不符。"))
        status, tokens = _http_json("POST", self.metadata()["token_endpoint"], headers=self._basic(), data={
            "grant_type": "authorization_code", "code": query.get("code", ""),
            "redirect_uri": self.base + "/callback", "code_verifier": pending["verifier"],
        })
        if status != 200 or "id_token" not in tokens:
            return _send(handler, 400, _page(self.server.name, f"登录失败：换取令牌出错（{status}）。"))
        try:
            claims = self.verify_id_token(tokens["id_token"], nonce=pending["nonce"])
        except ValueError as exc:
            return _send(handler, 400, _page(self.server.name, f"登录失败：{html.escape(str(exc))}"))
        scim = getattr(self.server, "scim", None)
        if scim is not None and scim.account_disabled(claims.get("sub", "")):
            return _send(handler, 403, _page(self.server.name, '<p data-testid="account-disabled">您在本系统的账号已停用。</p>'))
        session_id = secrets.token_urlsafe(24)
        with self.lock:
            self.sessions[session_id] = {"claims": claims, "access_token": tokens["access_token"],
                                         "refresh_token": tokens.get("refresh_token", ""),
                                         "id_token": tokens["id_token"]}
        cookie = f"{self.cookie}={session_id}; HttpOnly; SameSite=Lax; Path=/"
        if self.report_waiting:
            threading.Thread(target=self.send_waiting, args=(claims["sub"],), daemon=True).start()
        _redirect(handler, "/home", cookie=cookie)

    def send_waiting(self, sub: str) -> int:
        """Tell Yici's portal what waits for this user here (the records received, as items to check).

        Signed like every machine request to Yici (``X-Yici-System`` = the simulator's name, which is
        its line system code, HMAC with the shared secret). Returns the HTTP status (0: no answer).
        """
        from yici.exchange.machine_auth import sign_request

        parts = urllib.parse.urlsplit(self.issuer)
        path = "/accounts/api/waiting/"
        body = json.dumps({"items": [{"sub": sub, "count": self.server.store.count(), "label": "条记录待核查",
                                      "url": self.base + "/home"}]}, ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        request = urllib.request.Request(f"{parts.scheme}://{parts.netloc}{path}", data=body, method="POST", headers={
            "Content-Type": "application/json", "X-Yici-System": self.server.name, "X-Yici-Timestamp": timestamp,
            "X-Yici-Signature": sign_request(self.server.secret, timestamp, "POST", path, body),
        })
        try:
            with _opener.open(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    def verify_id_token(self, token: str, *, nonce: str) -> dict:
        try:
            try:
                parsed = jwt.JWT(jwt=token, key=self.keys(), algs=["RS256"])
            except Exception:  # noqa: BLE001 - a key rotated since: fetch the JWKS once more
                parsed = jwt.JWT(jwt=token, key=self.keys(refresh=True), algs=["RS256"])
        except Exception as exc:  # noqa: BLE001 - any failure means "not a valid token"
            raise ValueError(f"ID token signature invalid ({type(exc).__name__})") from exc
        claims = json.loads(parsed.claims)
        if claims.get("iss", "").rstrip("/") != self.issuer:
            raise ValueError("ID token issuer mismatch")
        audience = claims.get("aud")
        if self.client_id not in (audience if isinstance(audience, list) else [audience]):
            raise ValueError("ID token audience mismatch")
        if claims.get("nonce") != nonce:
            raise ValueError("ID token nonce mismatch")
        if int(claims.get("exp", 0)) < time.time():
            raise ValueError("ID token expired")
        return claims

    def _revalidate(self, session: dict) -> dict | None:
        """Ask Yici whether the session still stands: userinfo, then one refresh if the token expired."""
        userinfo = self.metadata()["userinfo_endpoint"]
        status, info = _http_json("GET", userinfo, headers={"Authorization": f"Bearer {session['access_token']}"})
        if status == 200:
            return info
        if status != 401 or not session.get("refresh_token"):
            return None
        status, tokens = _http_json("POST", self.metadata()["token_endpoint"], headers=self._basic(), data={
            "grant_type": "refresh_token", "refresh_token": session["refresh_token"],
        })
        if status != 200:
            return None
        session["access_token"] = tokens["access_token"]
        session["refresh_token"] = tokens.get("refresh_token", session["refresh_token"])
        status, info = _http_json("GET", userinfo, headers={"Authorization": f"Bearer {session['access_token']}"})
        return info if status == 200 else None

    def home(self, handler):
        session_id, session = self.session_of(handler)
        name = html.escape(self.server.name)
        if session is None:
            return _send(handler, 200, _page(self.server.name, f'<p data-testid="signed-out">未登录。</p>'
                                                                f'<p><a href="/login" data-testid="sso-login">使用一次账号登录 {name}</a></p>'))
        info = self._revalidate(session)
        if info is None:
            with self.lock:
                self.sessions.pop(session_id, None)
            return _send(handler, 200, _page(self.server.name, '<p data-testid="signed-out">您已在一次平台退出，本系统会话已结束。</p>'
                                                               '<p><a href="/login" data-testid="sso-login">重新登录</a></p>'),
                         headers={"Set-Cookie": f"{self.cookie}=; Max-Age=0; Path=/"})
        session["claims"].update(info)
        who = html.escape(str(info.get("name", info.get("sub"))))
        area = html.escape(str(info.get("area_name", "")))
        return _send(handler, 200, _page(self.server.name,
                                         f'<p data-testid="signed-in">已登录：<b data-testid="user-name">{who}</b> {area}</p>'
                                         f'<p data-testid="user-sub">{html.escape(info.get("sub", ""))}</p>'
                                         '<p><a href="/logout" data-testid="sso-logout">退出</a></p>'))

    def logout(self, handler):
        session_id, session = self.session_of(handler)
        with self.lock:
            self.sessions.pop(session_id, None)
        params = {"client_id": self.client_id, "post_logout_redirect_uri": self.base + "/home"}
        if session:
            params["id_token_hint"] = session["id_token"]
        end_session = self.metadata().get("end_session_endpoint")
        cookie = f"{self.cookie}=; Max-Age=0; Path=/"
        if end_session:
            return _redirect(handler, end_session + "?" + urllib.parse.urlencode(params), cookie=cookie)
        return _redirect(handler, "/home", cookie=cookie)


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title></head>'
            f'<body><h1 data-testid="system-name">{html.escape(title)}</h1>{body}</body></html>')


def enable_sso(server, *, issuer: str, client_id: str, client_secret: str, scope: str = "openid profile",
               report_waiting: bool = False) -> RelyingParty:
    rp = RelyingParty(server, issuer=issuer, client_id=client_id, client_secret=client_secret, scope=scope,
                      report_waiting=report_waiting)
    server.routes.extend([
        ("GET", "/login", rp.login),
        ("GET", "/callback", rp.callback),
        ("GET", "/home", rp.home),
        ("GET", "/logout", rp.logout),
    ])
    server.rp = rp
    return rp


# --- SCIM server ---------------------------------------------------------------------------------
class ScimStore:
    def __init__(self, db, lock):
        self.db, self.lock = db, lock
        with lock:
            db.execute("CREATE TABLE IF NOT EXISTS scim_users (id TEXT PRIMARY KEY, user_name TEXT UNIQUE, "
                       "external_id TEXT, data TEXT)")
            db.execute("CREATE TABLE IF NOT EXISTS scim_groups (id TEXT PRIMARY KEY, display_name TEXT UNIQUE, "
                       "members TEXT)")
            db.commit()

    def users(self) -> list[dict]:
        with self.lock:
            rows = self.db.execute("SELECT data FROM scim_users ORDER BY rowid").fetchall()
        return [json.loads(r[0]) for r in rows]

    def user(self, user_id: str) -> dict | None:
        with self.lock:
            row = self.db.execute("SELECT data FROM scim_users WHERE id = ?", [user_id]).fetchone()
        return json.loads(row[0]) if row else None

    def save_user(self, user: dict) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO scim_users (id, user_name, external_id, data) VALUES (?, ?, ?, ?)",
                            [user["id"], user["userName"], user.get("externalId", ""), json.dumps(user, ensure_ascii=False)])
            self.db.commit()

    def delete_user(self, user_id: str) -> bool:
        with self.lock:
            deleted = self.db.execute("DELETE FROM scim_users WHERE id = ?", [user_id]).rowcount
            self.db.commit()
        return bool(deleted)

    def groups(self) -> list[dict]:
        with self.lock:
            rows = self.db.execute("SELECT id, display_name, members FROM scim_groups ORDER BY rowid").fetchall()
        return [{"schemas": [GROUP_SCHEMA], "id": r[0], "displayName": r[1],
                 "members": [{"value": m} for m in json.loads(r[2])]} for r in rows]

    def save_group(self, group_id: str, name: str, members: list[str]) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO scim_groups (id, display_name, members) VALUES (?, ?, ?)",
                            [group_id, name, json.dumps(sorted(set(members)))])
            self.db.commit()


_FILTER = re.compile(r'^\s*(\w+(?:\.\w+)?)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)


class ScimServer:
    def __init__(self, server, *, token: str, quirk: str = ""):
        self.server, self.token, self.quirk = server, token, quirk
        self.store = ScimStore(server.store.db, server.store.lock)

    def account_disabled(self, sub: str) -> bool:
        """The relying party asks: did Yici disable this person's account here?"""
        return any(u.get("externalId") == sub and u.get("active") is False for u in self.store.users())

    def _error(self, handler, status: int, detail: str, scim_type: str = ""):
        body = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
        if scim_type:
            body["scimType"] = scim_type
        return _send(handler, status, json.dumps(body, ensure_ascii=False), content_type="application/scim+json")

    def _ok(self, handler, status: int, body):
        return _send(handler, status, json.dumps(body, ensure_ascii=False), content_type="application/scim+json")

    def _authorized(self, handler) -> bool:
        return secrets.compare_digest(handler.headers.get("Authorization", ""), f"Bearer {self.token}")

    def _json(self, handler):
        try:
            body = json.loads(_read_body(handler) or b"null")
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def _user_out(self, user: dict) -> dict:
        out = dict(user)
        out["groups"] = [{"value": g["id"], "display": g["displayName"]} for g in self.store.groups()
                         if any(m["value"] == user["id"] for m in g["members"])]
        if self.quirk == "string-booleans":
            out["active"] = "true" if user.get("active") else "false"
        return out

    def dispatch(self, handler):
        if not self._authorized(handler):
            return self._error(handler, 401, "bearer token required")
        if self.server.should_fail():
            return self._error(handler, 500, "simulated failure")
        method = handler.command
        parts = urllib.parse.urlsplit(handler.path)
        path = parts.path[len(SCIM_PREFIX):].rstrip("/")
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
        segments = [urllib.parse.unquote(s) for s in path.split("/") if s]
        if not segments or segments[0] not in ("Users", "Groups"):
            return self._error(handler, 404, "unknown resource type")
        resource, item = segments[0], (segments[1] if len(segments) > 1 else None)
        if resource == "Users":
            return self._users(handler, method, item, query)
        return self._groups(handler, method, item, query)

    def _list(self, handler, items: list[dict], query: dict):
        if "filter" in query:
            match = _FILTER.match(query["filter"])
            if not match:
                return self._error(handler, 400, "only 'attribute eq \"value\"' filters are supported", "invalidFilter")
            attribute, value = match.group(1), match.group(2).replace('\\"', '"')
            items = [i for i in items if str(i.get(attribute, "")).lower() == value.lower()]
        try:
            start = max(1, int(query.get("startIndex", 1)))
            count = max(0, int(query.get("count", 100)))
        except ValueError:
            return self._error(handler, 400, "startIndex and count are integers", "invalidValue")
        page = items[start - 1:start - 1 + count]
        return self._ok(handler, 200, {"schemas": [LIST_SCHEMA], "totalResults": len(items), "startIndex": start,
                                       "itemsPerPage": len(page), "Resources": page})

    def _users(self, handler, method, item, query):
        if method == "GET" and item is None:
            return self._list(handler, [self._user_out(u) for u in self.store.users()], query)
        if method == "POST" and item is None:
            body = self._json(handler)
            if body is None or USER_SCHEMA not in (body.get("schemas") or []) or not body.get("userName"):
                return self._error(handler, 400, "a User with schemas and userName is required", "invalidSyntax")
            if "active" in body and not isinstance(body["active"], bool):
                return self._error(handler, 400, "active must be a boolean", "invalidValue")
            if any(u["userName"].lower() == body["userName"].lower() for u in self.store.users()):
                return self._error(handler, 409, "userName is taken", "uniqueness")
            user = {k: v for k, v in body.items() if k not in ("id", "groups", "meta")}
            user["id"] = uuid.uuid4().hex
            user.setdefault("active", True)
            user["meta"] = {"resourceType": "User", "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            self.store.save_user(user)
            out = self._user_out(user)
            if self.quirk == "no-id":
                out.pop("id")
            return self._ok(handler, 201, out)
        user = self.store.user(item) if item else None
        if user is None:
            return self._error(handler, 404, "no such user")
        if method == "GET":
            return self._ok(handler, 200, self._user_out(user))
        if method == "DELETE":
            self.store.delete_user(item)
            return _send(handler, 204, "", content_type="application/scim+json")
        if method == "PATCH":
            body = self._json(handler)
            if body is None or PATCH_SCHEMA not in (body.get("schemas") or []) or not isinstance(body.get("Operations"), list):
                return self._error(handler, 400, "a PatchOp with Operations is required", "invalidSyntax")
            for op in body["Operations"]:
                if not isinstance(op, dict) or str(op.get("op", "")).lower() not in ("replace", "add", "remove"):
                    return self._error(handler, 400, "unknown PATCH op", "invalidSyntax")
                path, value = op.get("path", ""), op.get("value")
                if path == "active" and op["op"].lower() != "remove" and not isinstance(value, bool):
                    return self._error(handler, 400, "active must be a boolean", "invalidValue")
                if not path and isinstance(value, dict):
                    user.update(value)
                elif op["op"].lower() == "remove":
                    user.pop(path, None)
                elif "." in path and not path.startswith("urn:"):
                    head, tail = path.split(".", 1)
                    user.setdefault(head, {})[tail] = value
                else:
                    user[path] = value
            self.store.save_user(user)
            return self._ok(handler, 200, self._user_out(user))
        return self._error(handler, 405, "method not allowed")

    def _groups(self, handler, method, item, query):
        groups = self.store.groups()
        if method == "GET" and item is None:
            return self._list(handler, groups, query)
        if method == "POST" and item is None:
            body = self._json(handler)
            if body is None or not body.get("displayName"):
                return self._error(handler, 400, "a Group with displayName is required", "invalidSyntax")
            if any(g["displayName"] == body["displayName"] for g in groups):
                return self._error(handler, 409, "displayName is taken", "uniqueness")
            group_id = uuid.uuid4().hex
            members = [m.get("value") for m in body.get("members") or [] if isinstance(m, dict)]
            self.store.save_group(group_id, body["displayName"], members)
            return self._ok(handler, 201, {"schemas": [GROUP_SCHEMA], "id": group_id,
                                           "displayName": body["displayName"], "members": [{"value": m} for m in members]})
        group = next((g for g in groups if g["id"] == item), None)
        if group is None:
            return self._error(handler, 404, "no such group")
        if method == "GET":
            return self._ok(handler, 200, group)
        if method == "PATCH":
            body = self._json(handler)
            if body is None or not isinstance(body.get("Operations"), list):
                return self._error(handler, 400, "a PatchOp with Operations is required", "invalidSyntax")
            members = [m["value"] for m in group["members"]]
            for op in body["Operations"]:
                kind, path = str(op.get("op", "")).lower(), op.get("path", "")
                if kind == "add" and path == "members":
                    members += [m.get("value") for m in op.get("value") or [] if isinstance(m, dict)]
                elif kind == "remove":
                    match = re.match(r'^members\[value eq "([^"]+)"\]$', path)
                    if not match:
                        return self._error(handler, 400, "remove needs members[value eq \"…\"]", "invalidPath")
                    members = [m for m in members if m != match.group(1)]
                else:
                    return self._error(handler, 400, "unsupported group PATCH", "invalidSyntax")
            self.store.save_group(group["id"], group["displayName"], members)
            return _send(handler, 204, "", content_type="application/scim+json")
        return self._error(handler, 405, "method not allowed")


def enable_scim(server, *, token: str, quirk: str = "") -> ScimServer:
    scim = ScimServer(server, token=token, quirk=quirk)
    for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
        server.routes.append((method, SCIM_PREFIX + "/", scim.dispatch))
    server.scim = scim
    return scim
