"""A Django project in one file: cache-backed sessions
(django.contrib.sessions.backends.cache) on django-redis, unchanged,
pointed at a sessionraft node and driven through Django's test client,
which runs the real middleware and carries the session cookie from one
request to the next. Run by compat's TestSessionStores; see storecheck.py
for the environment."""

import sys
import time

import django
from django.conf import settings

from storecheck import HOST, PORT, PREFIX, keep, pause, step, until

# What an application configures: the cache's URL and the session engine.
settings.configure(
    DEBUG=False,
    SECRET_KEY="compat-test-secret",
    ALLOWED_HOSTS=["testserver"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.sessions"],
    MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
    SESSION_ENGINE="django.contrib.sessions.backends.cache",
    SESSION_COOKIE_AGE=60,
    SESSION_SAVE_EVERY_REQUEST=True,  # every request refreshes the expiry
    CACHES={
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://{HOST}:{PORT}/0",
            "KEY_PREFIX": PREFIX,
        }
    },
)
django.setup()

from django.core.cache import cache  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import path  # noqa: E402
from django_redis import get_redis_connection  # noqa: E402


def login(request):
    request.session["user"] = request.GET["user"]
    request.session["count"] = 0
    if "s" in request.GET:
        request.session.set_expiry(int(request.GET["s"]))
    return JsonResponse({"ok": True})


def incr(request):
    request.session["count"] += 1
    return JsonResponse({"count": request.session["count"]})


def me(request):
    s = request.session
    return JsonResponse({"user": s.get("user"), "count": s.get("count"), "key": s.session_key})


def logout(request):
    request.session.flush()
    return JsonResponse({"ok": True})


urlpatterns = [path("login", login), path("incr", incr), path("me", me), path("logout", logout)]

rdb = get_redis_connection("default")


def redis_key(session_key):
    # The cache session backend's key, as django-redis names it in Redis.
    return cache.make_key("django.contrib.sessions.cache" + session_key)


def get_me(c):
    r = c.get("/me")
    assert r.status_code == 200, r.status_code
    return r.json()


# A session made by one request is read by the next.
alice = Client()
assert alice.post("/login?user=alice").status_code == 200
a1 = get_me(alice)
assert a1["user"] == "alice", a1
alice_key = redis_key(a1["key"])
assert rdb.exists(alice_key) == 1, alice_key
step("login then read")


def alice_still_there():
    assert get_me(alice)["user"] == "alice", "the session made before the node was killed"


erin = Client()
erin.post("/login?user=erin")


def erin_incr():
    # The test client raises what the view raised: a store error
    # (django-redis's ConnectionInterrupted names the Redis error).
    r = erin.post("/incr")
    if r.status_code != 200:
        raise AssertionError(r.status_code)


pause(alice_still_there, erin_incr, lambda: get_me(erin)["count"])

# A change persists.
alice.post("/incr")
alice.post("/incr")
assert get_me(alice)["count"] == 2
step("change persists")

# Touch: with SESSION_SAVE_EVERY_REQUEST each request saves it again with
# a fresh expiry.
rdb.pexpire(alice_key, 5000)
assert rdb.pttl(alice_key) <= 5000
get_me(alice)
ttl = rdb.pttl(alice_key)
assert 50_000 < ttl <= 60_000, ttl
step("touch")

# A session with a 2 s lifetime is gone after it.
bob = Client()
bob.post("/login?user=bob&s=2")
b1 = get_me(bob)
assert b1["user"] == "bob", b1
bob_key = redis_key(b1["key"])
assert 0 < rdb.pttl(bob_key) <= 2000
born = time.monotonic()
until("the 2 s session to expire", 20, lambda: rdb.exists(bob_key) == 0)
assert time.monotonic() - born >= 0.9, "expired well before its lifetime"
assert get_me(bob)["user"] is None
step("2 s session expires")

# Logout removes the session.
carol = Client()
carol.post("/login?user=carol")
carol_key = redis_key(get_me(carol)["key"])
assert rdb.exists(carol_key) == 1
carol.post("/logout")
assert rdb.exists(carol_key) == 0
assert get_me(carol)["user"] is None
step("logout")

dave = Client()
dave.post("/login?user=dave")
keep(redis_key(get_me(dave)["key"]))
sys.exit(0)
