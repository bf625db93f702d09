"""A Flask app with Flask-Session's Redis interface (redis-py), unchanged,
pointed at a sessionraft node and driven through Flask's test client, which
carries the session cookie from one request to the next. Run by compat's
TestSessionStores; see storecheck.py for the environment."""

import time

import redis
from flask import Flask, jsonify, request, session
from flask_session import Session
from werkzeug.exceptions import InternalServerError

from storecheck import HOST, PORT, PREFIX, keep, pause, step, until

# What an application configures: host, port, and redis-py's defaults.
rdb = redis.Redis(host=HOST, port=PORT)


def make_app(lifetime):
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="compat-test-secret",
        SESSION_TYPE="redis",
        SESSION_REDIS=rdb,
        SESSION_KEY_PREFIX=PREFIX,
        PERMANENT_SESSION_LIFETIME=lifetime,
    )
    Session(app)

    @app.errorhandler(redis.exceptions.RedisError)
    def store_error(e):
        return "session store: " + str(e), 500

    # Flask-Session writes the session after the view returned (its
    # save_session runs in Flask's process_response), and Flask hands an
    # error raised there to the 500 handler, wrapped, not to the handler
    # above: without this the reply is Flask's generic error page, and a
    # write in flight to the leader as it dies (INDETERMINATE, the one
    # error pause() allows) failed the run as an unknown error.
    @app.errorhandler(InternalServerError)
    def wrapped_store_error(e):
        orig = getattr(e, "original_exception", None)
        if isinstance(orig, redis.exceptions.RedisError):
            return store_error(orig)
        return e

    @app.post("/login")
    def login():
        session["user"] = request.args["user"]
        session["count"] = 0
        return jsonify(ok=True)

    @app.post("/incr")
    def incr():
        session["count"] += 1
        return jsonify(count=session["count"])

    @app.get("/me")
    def me():
        return jsonify(user=session.get("user"), count=session.get("count"), sid=session.sid)

    @app.post("/logout")
    def logout():
        session.clear()
        return jsonify(ok=True)

    return app


def me(c):
    r = c.get("/me")
    assert r.status_code == 200, r.status_code
    return r.get_json()


app = make_app(60)
short_app = make_app(2)

# A session made by one request is read by the next.
alice = app.test_client()
assert alice.post("/login?user=alice").status_code == 200
a1 = me(alice)
assert a1["user"] == "alice", a1
alice_key = PREFIX + a1["sid"]
assert rdb.exists(alice_key) == 1
step("login then read")



def alice_still_there():
    assert me(alice)["user"] == "alice", "the session made before the node was killed"


erin = app.test_client()
erin.post("/login?user=erin")


def erin_incr():
    r = erin.post("/incr")
    if r.status_code != 200:
        raise AssertionError(r.get_data(as_text=True))


pause(alice_still_there, erin_incr, lambda: me(erin)["count"])

# A change persists.
alice.post("/incr")
alice.post("/incr")
assert me(alice)["count"] == 2
step("change persists")

# Touch: every request rewrites the session with a fresh lifetime (SETEX).
rdb.pexpire(alice_key, 5000)
assert rdb.pttl(alice_key) <= 5000
me(alice)
ttl = rdb.pttl(alice_key)
assert 50_000 < ttl <= 60_000, ttl
step("touch")

# A session with a 2 s lifetime is gone after it.
bob = short_app.test_client()
bob.post("/login?user=bob")
b1 = me(bob)
assert b1["user"] == "bob", b1
bob_key = PREFIX + b1["sid"]
assert 0 < rdb.pttl(bob_key) <= 2000
born = time.monotonic()
until("the 2 s session to expire", 20, lambda: rdb.exists(bob_key) == 0)
assert time.monotonic() - born >= 0.9, "expired well before its lifetime"
assert me(bob)["user"] is None
step("2 s session expires")

# Logout removes the session.
carol = app.test_client()
carol.post("/login?user=carol")
carol_key = PREFIX + me(carol)["sid"]
assert rdb.exists(carol_key) == 1
carol.post("/logout")
assert rdb.exists(carol_key) == 0
assert me(carol)["user"] is None
step("logout")

dave = app.test_client()
dave.post("/login?user=dave")
keep(PREFIX + me(dave)["sid"])
