#!/usr/bin/env python3
"""Load driver of bench/login_burst.sh: N virtual browsers, each logging in again and again the
way a browser does, for a fixed time. Standard library only (threads + http.client).

One password login (--method password; a fresh cookie jar each time, like a new browser):
  GET /authorize (303 to /login?ar=...) -> GET /login?ar=... (the form: csrf, ar, CSRF cookie)
  -> POST /login username+password -> 302 to the portal with a code.
A POST answered 503 ("busy, try again") is posted again after its Retry-After times a random
factor in [1, 2) (capped at --max-wait), as a person would click again; every other unexpected answer counts as an error
and the login starts over.

One signature login (--method remote_signature or sim_signature; --username lists the holders,
user ids or phone numbers of the sandbox provider):
  GET /authorize -> GET /login/{method}?ar=... (the form) -> POST /login/{method} with the holder
  (the push is sent; the page shows its verification code) -> the holder approves in the
  sandbox provider over HTTP (GET /sandbox/{csc,mssp}/pending?holder=..., the request whose
  display text has the page's code; POST .../requests/{id}/approve with the PIN)
  -> GET /login/{method}/poll until "ready" -> POST /login/{method} -> 302 with a code.
The "POST" latency is then that last POST: the signature and certificate checks (path, OCSP
from the cache, CMS or raw signature) and the code.

Prints one JSON object: completed logins, logins/s, latency percentiles, busy answers, errors.
"""

import argparse
import http.client
import json
import random
import re
import threading
import time
import urllib.parse

CSRF = re.compile(rb'name="csrf" value="([^"]*)"')
PUSH_CODE = re.compile(rb'id="push-code">(\d{4})')
PROVIDER = {"remote_signature": ("csc", "user_id"), "sim_signature": ("mssp", "phone")}
AR = re.compile(rb'name="ar" value="([^"]*)"')


class Browser:
    """One virtual browser: a keep-alive connection and a cookie jar."""

    def __init__(self, host, port, timeout):
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self.cookies = {}

    def request(self, method, path, body=None, content_type="application/x-www-form-urlencoded"):
        headers = {"Accept": "text/html", "Accept-Language": "vi"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # reconnects on the next request
            raise
        for value in resp.headers.get_all("Set-Cookie") or []:
            pair = value.split(";", 1)[0]
            if "=" in pair:
                k, v = pair.split("=", 1)
                self.cookies[k.strip()] = v.strip()
        if resp.getheader("Connection", "").lower() == "close":
            self.conn.close()
        return resp.status, resp.headers, data


def path_of(url):
    u = urllib.parse.urlsplit(url)
    return u.path + ("?" + u.query if u.query else "")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.login_ms = []  # complete logins: first request to the code, busy waits included
        self.post_ms = []  # every POST /login answered 302 (the Argon2 part, with its queueing)
        self.busy = 0
        self.errors = 0
        self.error_samples = []

    def completed(self, t0, p0, p1, deadline):
        """A login that got its code: counted when it finished within the measured time."""
        if p1 > deadline:
            return False
        with self.lock:
            self.post_ms.append((p1 - p0) * 1000)
            self.login_ms.append((p1 - t0) * 1000)
        return True

    def error(self, what):
        with self.lock:
            self.errors += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(what)


def one_login(b, args, username, stats, deadline):
    """Returns True when a login completed before the deadline."""
    b.cookies = {}
    t0 = time.monotonic()
    status, headers, _ = b.request("GET", args.authorize_path)
    location = headers.get("Location", "")
    if status != 303 or "/login?ar=" not in location:
        stats.error(f"GET /authorize: {status} {location[:80]}")
        return False
    status, _, page = b.request("GET", path_of(location))
    csrf, ar = CSRF.search(page), AR.search(page)
    if status != 200 or not csrf or not ar:
        stats.error(f"GET /login: {status}")
        return False
    form = urllib.parse.urlencode(
        {
            "csrf": csrf.group(1).decode(),
            "ar": ar.group(1).decode(),
            "username": username,
            "password": args.password,
        }
    )
    while time.monotonic() < deadline:
        p0 = time.monotonic()
        status, headers, _ = b.request("POST", "/login", form)
        p1 = time.monotonic()
        if status == 302 and "code=" in headers.get("Location", ""):
            return stats.completed(t0, p0, p1, deadline)
        if status == 503:
            with stats.lock:
                stats.busy += 1
            try:
                wait = float(headers.get("Retry-After", "1"))
            except ValueError:
                wait = 1.0
            # At least what the server asked, plus up to as much again: people do not click
            # again in lockstep.
            wait = max(wait, 0.05) * random.uniform(1.0, 2.0)
            time.sleep(min(wait, args.max_wait))
            continue
        stats.error(f"POST /login: {status} {headers.get('Location', '')[:60]}")
        return False
    return False


def authorize(b, args, stats, login_path):
    """GET /authorize, then the login form at `login_path` (with the request's ar): the page."""
    status, headers, _ = b.request("GET", args.authorize_path)
    location = headers.get("Location", "")
    if status != 303 or "/login?ar=" not in location:
        stats.error(f"GET /authorize: {status} {location[:80]}")
        return None
    ar = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).get("ar", [""])[0]
    status, _, page = b.request("GET", f"{login_path}?ar={urllib.parse.quote(ar)}")
    if status != 200 or not CSRF.search(page):
        stats.error(f"GET {login_path}: {status}")
        return None
    return ar, page


def approve(b, args, holder, code, stats):
    """The holder approves, in the sandbox provider, the request showing `code`."""
    provider, _ = PROVIDER[args.method]
    status, _, body = b.request(
        "GET", f"/sandbox/{provider}/pending?holder={urllib.parse.quote(holder)}"
    )
    if status != 200:
        stats.error(f"GET /sandbox/{provider}/pending: {status}")
        return False
    ours = [r for r in json.loads(body) if code in r.get("display", "")]
    if not ours:
        stats.error(f"no pending request with code {code}")
        return False
    status, _, body = b.request(
        "POST",
        f"/sandbox/{provider}/requests/{ours[-1]['id']}/approve",
        json.dumps({"pin": args.pin}),
        "application/json",
    )
    if status != 200:
        stats.error(f"approve: {status} {body[:80]}")
        return False
    return True


def one_signature_login(b, args, holder, stats, deadline):
    """Returns True when a signature login completed before the deadline."""
    _, field = PROVIDER[args.method]
    login_path = f"/login/{args.method}"
    b.cookies = {}
    t0 = time.monotonic()
    shown = authorize(b, args, stats, login_path)
    if shown is None:
        return False
    ar, page = shown
    form = {"csrf": CSRF.search(page).group(1).decode(), "ar": ar, field: holder}
    status, _, page = b.request("POST", login_path, urllib.parse.urlencode(form))
    code, csrf = PUSH_CODE.search(page), CSRF.search(page)
    if status != 200 or not code or not csrf:
        stats.error(f"POST {login_path} (start): {status}")
        return False
    if not approve(b, args, holder, code.group(1).decode(), stats):
        return False
    while True:
        if time.monotonic() > deadline:
            return False
        status, _, body = b.request("GET", f"{login_path}/poll")
        state = json.loads(body).get("status") if status == 200 else None
        if state == "ready":
            break
        if state != "pending":
            stats.error(f"poll: {status} {body[:80]}")
            return False
        time.sleep(0.05)
    form = {"csrf": csrf.group(1).decode(), "ar": ar}
    p0 = time.monotonic()
    status, headers, _ = b.request("POST", login_path, urllib.parse.urlencode(form))
    p1 = time.monotonic()
    if status == 302 and "code=" in headers.get("Location", ""):
        return stats.completed(t0, p0, p1, deadline)
    stats.error(f"POST {login_path} (complete): {status} {headers.get('Location', '')[:60]}")
    return False


class Window:
    """The measured window, set once every virtual browser is ready."""

    start = 0.0
    deadline = 0.0


def user(args, username, stats, window, ready):
    b = Browser(args.host, args.port, args.timeout)
    if args.method != "password":
        # Each holder's first signature is not measured: the sandbox provider makes the
        # holder's key then (RSA-2048 for a SIM, on the server's core), which a real provider
        # did long before. Its result is not counted either way.
        try:
            one_signature_login(b, args, username, Stats(), time.monotonic() + args.timeout)
        except (OSError, http.client.HTTPException):
            pass
    ready.wait()
    while time.monotonic() < window.start:
        time.sleep(0.001)
    deadline = window.deadline
    while time.monotonic() < deadline:
        try:
            if args.method == "password":
                one_login(b, args, username, stats, deadline)
            else:
                one_signature_login(b, args, username, stats, deadline)
        except (OSError, http.client.HTTPException) as e:
            stats.error(f"{type(e).__name__}: {e}")
            time.sleep(0.05)


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(p / 100 * len(s)))], 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="localhost")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--authorize-path", required=True)
    # Comma-separated: virtual browser i logs in as name i (mod the count), as a burst is
    # many citizens at once, not one citizen many times (that one is throttled per name).
    ap.add_argument("--username", required=True)
    ap.add_argument("--password", default="")
    ap.add_argument(
        "--method", choices=["password", "remote_signature", "sim_signature"], default="password"
    )
    # The holders' PIN in the sandbox provider (signature methods).
    ap.add_argument("--pin", default="123456")
    ap.add_argument("--concurrency", type=int, required=True)
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--max-wait", type=float, default=5)
    args = ap.parse_args()

    names = args.username.split(",")
    stats = Stats()
    window = Window()

    def open_window():
        window.start = time.monotonic() + 0.5  # every thread starts at once
        window.deadline = window.start + args.duration

    ready = threading.Barrier(args.concurrency + 1, action=open_window)
    threads = [
        threading.Thread(
            target=user, args=(args, names[i % len(names)], stats, window, ready), daemon=True
        )
        for i in range(args.concurrency)
    ]
    for t in threads:
        t.start()
    ready.wait()
    start, deadline = window.start, window.deadline
    for t in threads:
        # A login still running at the deadline finishes (bounded by the request timeout) but
        # is not counted.
        t.join(timeout=max(0.0, deadline - time.monotonic()) + args.timeout + 1)
    elapsed = time.monotonic() - start
    done = len(stats.login_ms)
    print(
        json.dumps(
            {
                "method": args.method,
                "concurrency": args.concurrency,
                "seconds": round(elapsed, 1),
                "logins": done,
                "logins_per_s": round(done / args.duration, 1),
                "login_p50_ms": pct(stats.login_ms, 50),
                "login_p99_ms": pct(stats.login_ms, 99),
                "post_p50_ms": pct(stats.post_ms, 50),
                "post_p99_ms": pct(stats.post_ms, 99),
                "busy": stats.busy,
                "errors": stats.errors,
                "error_samples": stats.error_samples,
            }
        )
    )


if __name__ == "__main__":
    main()
