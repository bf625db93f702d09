"""What compat's Python store scripts share: the environment the Go test
sets, progress lines, the kill pause and a bounded wait.

SR_ADDR is the host:port of the node the app connects to, SR_PREFIX the
store's key prefix (unique per run), SR_PAUSE "1" asks for a pause after
the first session exists: the script prints PAUSE and waits for "go" on
stdin while the test kills a node, and SETTLE once it has read its first
session again, waiting for "go" while the test waits for new leaders.
Progress goes to stdout ("ok <step>"), a failure is an exception (non-zero
exit, traceback on stderr).
"""

import os
import sys
import threading
import time

HOST, PORT = os.environ["SR_ADDR"].rsplit(":", 1)
PORT = int(PORT)
PREFIX = os.environ.get("SR_PREFIX", "session:")


def step(name):
    print("ok", name, flush=True)


def pause(after, incr, count):
    """Let the test kill a node; after() then checks what was there before.

    From the kill until every group has a new leader, another thread keeps
    calling incr() (one request that increments a session's counter,
    raising on failure); count() then reads that counter. INDETERMINATE
    (a write in flight to the leader as it died: applied or not, nobody
    knows; Redis says the same with a dropped connection) is the one error
    allowed."""
    if os.environ.get("SR_PAUSE") != "1":
        return
    stop = threading.Event()
    state = {"ok": 0, "indeterminate": 0, "error": None}

    def load():
        while not stop.is_set():
            try:
                incr()
                state["ok"] += 1
            except Exception as e:  # noqa: BLE001 (classified below)
                if "INDETERMINATE" not in str(e):
                    state["error"] = e
                    return
                state["indeterminate"] += 1

    th = threading.Thread(target=load, daemon=True)
    th.start()
    print("PAUSE", flush=True)
    wait_go()
    after()
    step("read after the kill")
    # The 2 s lifetime checked later needs writes that land within 2 s:
    # the test now waits until every group has its new leader.
    print("SETTLE", flush=True)
    wait_go()
    # At least one request must go through across the failover. The one in
    # flight at the kill may take all of it (answered INDETERMINATE, or
    # waiting for the new leader; Flask even saves the session again for
    # its error response), so stop the load only once one has gone through
    # (every group has a leader now, so the next one does).
    until("a request to go through after the failover", 30,
          lambda: state["ok"] > 0 or state["error"] is not None or not th.is_alive())
    stop.set()
    th.join(60)
    assert not th.is_alive(), "a request during the failover did not end"
    if state["error"] is not None:
        raise AssertionError("a request during the failover: %r" % state["error"])
    ok, indet, n = state["ok"], state["indeterminate"], count()
    assert ok > 0 and ok <= n <= ok + indet, (ok, indet, n)
    step("%d requests during the failover (%d INDETERMINATE)" % (ok, indet))


def wait_go():
    for line in sys.stdin:
        if line.strip() == "go":
            return
    raise AssertionError("stdin closed while waiting for go")


def until(what, timeout, cond):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.1)


def keep(key):
    """Names a session the Go test reads afterwards, and ends the run."""
    print("KEEP", key, flush=True)
    print("PASS", flush=True)
