#!/usr/bin/env python3
"""Load driver of bench/flows.sh: N virtual citizens doing whole flows for a fixed time.
Standard library only (threads + http.client); the browser, percentiles and form regexes are
bench/login_burst.py's.

One flow (a new citizen each time, a fresh cookie jar):
  register   GET /register/mobile (form, captcha id) -> the captcha's answer from the sandbox
             (/sandbox/captcha/{id}) -> POST /register/mobile -> 303 /register/otp
  reg_otp    GET /register/otp -> the code from the SMS outbox -> POST -> 303 /register/password
  reg_pwd    GET /register/password -> POST password twice -> 200 (the account exists)
  login      GET /authorize (PKCE S256) -> 303 /login?ar= -> GET /login -> POST /login
             username + password -> redirect to /login/otp
  login_otp  GET /login/otp -> the code from the SMS outbox -> POST -> redirect with ?code=
  token      POST /token authorization_code + code_verifier, client_secret_basic -> 200 with
             an id_token
A step's latency counts the citizen's (and the portal's) requests only, not the driver's reads
of the sandbox (captcha answer, SMS outbox), which a person does by looking. A POST answered
503 ("busy, try again": the Argon2 pool's queue is full) is sent again after its Retry-After
times a random factor in [1, 2), and its waits count in the step. Anything else unexpected ends
the flow as an error of that step, and the next flow starts with a new citizen.

With --login-only the citizens exist already (--id-numbers, e.g. accounts made by
bench/fill_accounts.sh): each flow is login, login_otp and token for the next one.

Identities: citizen k (k = 1, 2, ...) is id number {prefix}{k:06}, phone +84{phone_prefix}{k:07},
born 01/01/19{yy}, as bench/flows.sh seeds the sandbox carrier.

Prints one JSON object: flows completed, flows/s, per-step and whole-flow p50/p95/p99 (ms),
busy answers, errors by kind (step: what went wrong).
"""

import argparse
import base64
import hashlib
import http.client
import itertools
import json
import os
import random
import re
import threading
import time
import urllib.parse

from login_burst import AR, CSRF, Browser, path_of, pct

CAPTCHA_ID = re.compile(rb'name="captcha_id" value="([^"]*)"')
OTP = re.compile(r"(?<!\d)(\d{6})(?!\d)")
STEPS = ["register", "reg_otp", "reg_pwd", "login", "login_otp", "token"]


class FlowError(Exception):
    """An unexpected answer, as "step: what status": the kind the report counts (no personal
    data or tokens in it)."""


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.step_ms = {s: [] for s in STEPS}
        self.flow_ms = []
        self.busy = 0
        self.errors = {}

    def flow(self, steps, total):
        with self.lock:
            for name, ms in steps.items():
                self.step_ms[name].append(ms)
            self.flow_ms.append(total)

    def error(self, kind):
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1


class Citizen:
    """One virtual citizen's browser, timing the requests a person makes, step by step."""

    def __init__(self, args, stats):
        self.args = args
        self.stats = stats
        self.b = Browser(args.host, args.port, args.timeout)
        self.sandbox = Browser(args.sandbox_host, args.sandbox_port, args.timeout)
        self.captcha = Browser(args.host, args.port, args.timeout)
        self.steps = {}
        self.step = ""

    def timed(self, method, path, body=None, content_type="application/x-www-form-urlencoded"):
        t0 = time.monotonic()
        try:
            return self.b.request(method, path, body, content_type)
        finally:
            self.steps[self.step] = self.steps.get(self.step, 0.0) + (time.monotonic() - t0) * 1000

    def post_form(self, path, fields):
        """POSTs a form, again after a 503 (busy) like a person clicking again."""
        body = urllib.parse.urlencode(fields)
        while True:
            status, headers, data = self.timed("POST", path, body)
            if status != 503:
                return status, headers, data
            with self.stats.lock:
                self.stats.busy += 1
            try:
                wait = float(headers.get("Retry-After", "1"))
            except ValueError:
                wait = 1.0
            t0 = time.monotonic()
            time.sleep(min(max(wait, 0.05) * random.uniform(1.0, 2.0), self.args.max_wait))
            self.steps[self.step] += (time.monotonic() - t0) * 1000

    def page(self, path, *fields):
        """GETs a page (200) and returns its hidden inputs `fields`."""
        status, _, html = self.timed("GET", path)
        found = [r.search(html) for r in fields]
        if status != 200 or not all(found):
            raise FlowError(f"{self.step}: GET {path.split('?')[0]} {status}")
        return [m.group(1).decode().replace("&#x3D;", "=") for m in found]

    def sandbox_json(self, browser, what, path):
        status, _, body = browser.request("GET", path)
        if status != 200:
            raise FlowError(f"{self.step}: {what} {status}")
        return json.loads(body)

    def sms_code(self, phone, not_before):
        """The newest SMS code sent to `phone`, once more than `not_before` codes have been sent
        to it (the registration's code stays in the outbox); returns it and how many there are."""
        for _ in range(50):
            path = f"/sandbox/sms/outbox?to={urllib.parse.quote(phone)}"
            texts = self.sandbox_json(self.sandbox, "SMS outbox", path)
            codes = [m.group(1) for t in texts for m in [OTP.search(t["text"])] if m]
            if codes and (len(codes) > not_before):
                return codes[-1], len(codes)
            time.sleep(0.02)
        raise FlowError(f"{self.step}: no SMS code")

    def expect_redirect(self, status, headers, want):
        location = headers.get("Location", "")
        if status not in (302, 303) or want not in location:
            raise FlowError(f"{self.step}: POST {status} to {urllib.parse.urlsplit(location).path}")
        return location

    def register(self, who):
        self.step = "register"
        csrf, captcha_id = self.page("/register/mobile", CSRF, CAPTCHA_ID)
        # The captcha is the node's (kept in the shared store): read on the issuer's side.
        path = f"/sandbox/captcha/{captcha_id}"
        answer = self.sandbox_json(self.captcha, "captcha answer", path)["answer"]
        fields = {
            "csrf": csrf,
            "captcha_id": captcha_id,
            "captcha": answer,
            "id_number": who["id_number"],
            "full_name": who["full_name"],
            "birthdate": who["birthdate"],
            "phone": who["phone_local"],
        }
        self.expect_redirect(*self.post_form("/register/mobile", fields)[:2], "/register/otp")

        self.step = "reg_otp"
        (csrf,) = self.page("/register/otp", CSRF)
        code, sent = self.sms_code(who["phone"], 0)
        status, headers, _ = self.post_form("/register/otp", {"csrf": csrf, "otp": code})
        self.expect_redirect(status, headers, "/register/password")

        self.step = "reg_pwd"
        (csrf,) = self.page("/register/password", CSRF)
        pwd = self.args.password
        fields = {"csrf": csrf, "password": pwd, "password_confirm": pwd}
        status, _, _ = self.post_form("/register/password", fields)
        if status != 200:
            raise FlowError(f"reg_pwd: POST {status}")
        return sent

    def login(self, who, sent):
        self.step = "login"
        verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.args.client_id,
                "redirect_uri": self.args.redirect_uri,
                "scope": "openid profile",
                "state": "s",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        status, headers, _ = self.timed("GET", f"/authorize?{query}")
        location = headers.get("Location", "")
        if status != 303 or "/login?ar=" not in location:
            raise FlowError(f"login: GET /authorize {status}")
        csrf, ar = self.page(path_of(location), CSRF, AR)
        fields = {"csrf": csrf, "ar": ar, "username": who["id_number"], "password": self.args.password}
        self.expect_redirect(*self.post_form("/login", fields)[:2], "/login/otp")

        self.step = "login_otp"
        (csrf,) = self.page("/login/otp", CSRF)
        code, _ = self.sms_code(who["phone"], sent)
        status, headers, _ = self.post_form("/login/otp", {"csrf": csrf, "otp": code})
        location = self.expect_redirect(status, headers, "code=")
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]

        self.step = "token"
        basic = base64.b64encode(f"{self.args.client_id}:{self.args.client_secret}".encode())
        body = urllib.parse.urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.args.redirect_uri,
                "code_verifier": verifier,
            }
        )
        t0 = time.monotonic()
        self.b.conn.request(
            "POST",
            "/token",
            body=body,
            headers={
                "Authorization": f"Basic {basic.decode()}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        resp = self.b.conn.getresponse()
        data = resp.read()
        self.steps["token"] = (time.monotonic() - t0) * 1000
        if resp.status != 200 or b"id_token" not in data:
            raise FlowError(f"token: POST {resp.status}")

    def flow(self, who, deadline):
        self.b.cookies = {}
        self.steps = {}
        t0 = time.monotonic()
        try:
            sent = 0 if self.args.login_only else self.register(who)
            self.login(who, sent)
        except FlowError as e:
            self.stats.error(str(e))
            return
        except (OSError, http.client.HTTPException) as e:
            self.stats.error(f"{self.step}: {type(e).__name__}")
            self.b.conn.close()
            time.sleep(0.05)
            return
        t1 = time.monotonic()
        if t1 <= deadline:
            self.stats.flow(self.steps, (t1 - t0) * 1000)


def identities(args):
    """Citizen k, in order, shared by every thread."""
    if args.login_only:
        for id_number, phone in zip(args.id_numbers.split(","), args.phones.split(",")):
            yield {"id_number": id_number, "phone": phone}
        return
    for k in itertools.count(args.first):
        yield {
            "id_number": f"{args.id_prefix}{k:06d}",
            "full_name": args.full_name,
            "birthdate": args.birthdate,
            "phone": f"+84{args.phone_prefix}{k:07d}",
            "phone_local": f"0{args.phone_prefix}{k:07d}",
        }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="the issuer (load balancer) URL")
    ap.add_argument("--sandbox-url", help="where the SMS outbox is read (default: --url)")
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--client-secret", required=True)
    ap.add_argument("--redirect-uri", default="http://127.0.0.1:9/cb")
    ap.add_argument("--password", default="Bench#Flow2026x")
    ap.add_argument("--id-prefix", default="040195", help="6 digits: province, century, year")
    ap.add_argument("--phone-prefix", default="86", help="2 digits after +84")
    ap.add_argument("--full-name", default="Nguyễn Thị Lan")
    ap.add_argument("--birthdate", default="01/01/1995")
    ap.add_argument("--first", type=int, default=1, help="the first citizen's number k")
    ap.add_argument("--identities", type=int, required=True, help="how many are seeded")
    ap.add_argument("--login-only", action="store_true")
    ap.add_argument("--id-numbers", default="", help="--login-only: comma-separated")
    ap.add_argument("--phones", default="", help="--login-only: their phones, +84…")
    ap.add_argument("--concurrency", type=int, required=True)
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--max-wait", type=float, default=5)
    args = ap.parse_args()
    u = urllib.parse.urlsplit(args.url)
    s = urllib.parse.urlsplit(args.sandbox_url or args.url)
    args.host, args.port = u.hostname, u.port
    args.sandbox_host, args.sandbox_port = s.hostname, s.port

    stats = Stats()
    people = identities(args)
    people_lock = threading.Lock()
    used = [0]
    start = time.monotonic()
    deadline = start + args.duration

    def run():
        c = Citizen(args, stats)
        while time.monotonic() < deadline:
            with people_lock:
                if used[0] >= args.identities:
                    return  # every seeded citizen has had their flow
                used[0] += 1
                who = next(people)
            c.flow(who, deadline)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()) + args.timeout + 1)
    elapsed = min(time.monotonic(), deadline) - start
    done = len(stats.flow_ms)

    def summary(values):
        return {"p50": pct(values, 50), "p95": pct(values, 95), "p99": pct(values, 99)}

    steps = STEPS[3:] if args.login_only else STEPS
    print(
        json.dumps(
            {
                "concurrency": args.concurrency,
                "seconds": round(elapsed, 1),
                "flows": done,
                "flows_per_s": round(done / elapsed, 2) if elapsed > 0 else 0,
                "citizens_used": used[0],
                "ran_out": used[0] >= args.identities,
                "flow_ms": summary(stats.flow_ms),
                "steps_ms": {s: summary(stats.step_ms[s]) for s in steps},
                "busy": stats.busy,
                "errors": stats.errors,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
