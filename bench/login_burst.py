#!/usr/bin/env python3
"""Load driver of bench/login_burst.sh: N virtual browsers, each logging in again and again the
way a browser does, for a fixed time. Standard library only (threads + http.client).

One login (a fresh cookie jar each time, like a new browser):
  GET /authorize (303 to /login?ar=...) -> GET /login?ar=... (the form: csrf, ar, CSRF cookie)
  -> POST /login username+password -> 302 to the portal with a code.
A POST answered 503 ("busy, try again") is posted again after its Retry-After times a random
factor in [1, 2) (capped at --max-wait), as a person would click again; every other unexpected answer counts as an error
and the login starts over.

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
AR = re.compile(rb'name="ar" value="([^"]*)"')


class Browser:
    """One virtual browser: a keep-alive connection and a cookie jar."""

    def __init__(self, host, port, timeout):
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self.cookies = {}

    def request(self, method, path, body=None):
        headers = {"Accept": "text/html", "Accept-Language": "vi"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
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
            if p1 > deadline:
                return False  # finished after the measured time: not counted
            with stats.lock:
                stats.post_ms.append((p1 - p0) * 1000)
                stats.login_ms.append((p1 - t0) * 1000)
            return True
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


def user(args, username, stats, start, deadline):
    b = Browser(args.host, args.port, args.timeout)
    while time.monotonic() < start:
        time.sleep(0.001)
    while time.monotonic() < deadline:
        try:
            one_login(b, args, username, stats, deadline)
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
    ap.add_argument("--password", required=True)
    ap.add_argument("--concurrency", type=int, required=True)
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--max-wait", type=float, default=5)
    args = ap.parse_args()

    names = args.username.split(",")
    stats = Stats()
    start = time.monotonic() + 0.5  # every thread starts at once
    deadline = start + args.duration
    threads = [
        threading.Thread(
            target=user, args=(args, names[i % len(names)], stats, start, deadline), daemon=True
        )
        for i in range(args.concurrency)
    ]
    for t in threads:
        t.start()
    for t in threads:
        # A login still running at the deadline finishes (bounded by the request timeout) but
        # is not counted.
        t.join(timeout=max(0.0, deadline - time.monotonic()) + args.timeout + 1)
    elapsed = time.monotonic() - start
    done = len(stats.login_ms)
    print(
        json.dumps(
            {
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
