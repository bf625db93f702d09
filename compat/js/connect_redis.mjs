// An Express 5 app with express-session and connect-redis, unchanged, on
// node-redis 5 (RESP2) or 6 (RESP3), pointed at a sessionraft node. Run by
// compat's TestSessionStores; it drives the app through real HTTP requests
// (supertest agents keep the cookie from one request to the next) and
// checks what a session store must do. Environment:
//
//	SR_ADDR    host:port of the node the app connects to
//	SR_LIB     "redis5" (node-redis 5) or "redis" (node-redis 6)
//	SR_RESP    2 or 3: the protocol the library speaks by default
//	SR_PREFIX  the store's key prefix (unique per run)
//	SR_PAUSE   "1": after the first session exists, print PAUSE and wait
//	           for "go" on stdin (the test kills a node meanwhile); after
//	           reading that session again, print SETTLE and wait for "go"
//	           (the test waits for the new leaders)
//
// Progress goes to stdout ("ok <step>"), a failure to stderr with a
// non-zero exit. The last line is "KEEP <key>": a session left for the Go
// test to read through sessionraft's own commands.
import assert from "node:assert/strict";
import { createInterface } from "node:readline";
import express from "express";
import session from "express-session";
import { RedisStore } from "connect-redis";
import request from "supertest";

const addr = process.env.SR_ADDR;
const libName = process.env.SR_LIB || "redis";
const resp = Number(process.env.SR_RESP || "3");
const prefix = process.env.SR_PREFIX || "sess:";
const { createClient } = await import(libName);

// What an application configures: one URL, and the library's defaults
// otherwise (node-redis 6 speaks RESP3, 5 RESP2; its reconnect strategy;
// no command retries). SR_RESP is the protocol the library should pick.
const client = createClient({ url: `redis://${addr}` });
client.on("error", (err) => console.error("redis client:", err.message));
await client.connect();

const store = new RedisStore({ client, prefix });
const app = express();
app.use(
  session({
    store,
    secret: "compat-test-secret",
    resave: false,
    saveUninitialized: false,
    rolling: true, // every response touches the session (store.touch)
    cookie: { maxAge: 60_000 },
  }),
);
app.post("/login", (req, res) => {
  req.session.user = req.query.user;
  req.session.count = 0;
  if (req.query.ms) req.session.cookie.maxAge = Number(req.query.ms);
  res.json({ ok: true });
});
app.post("/incr", (req, res) => {
  if (!req.session.user) return res.status(401).end();
  req.session.count++;
  res.json({ count: req.session.count });
});
app.get("/me", (req, res) => {
  res.json({ user: req.session.user ?? null, count: req.session.count ?? null, id: req.sessionID });
});
app.post("/logout", (req, res, next) => {
  req.session.destroy((err) => (err ? next(err) : res.json({ ok: true })));
});
app.use((err, req, res, next) => {
  console.error("app error:", err);
  res.status(500).json({ error: String(err) });
});

const step = (name) => console.log("ok", name);
const stdinLines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function waitGo() {
  for (;;) {
    const { value, done } = await stdinLines.next();
    if (done) throw new Error("stdin closed while waiting for go");
    if (value.trim() === "go") return;
  }
}
const me = async (agent) => (await agent.get("/me").expect(200)).body;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, timeoutMs, cond) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const protoLine = (await client.sendCommand(["CLIENT", "INFO"])).toString();
assert.match(protoLine, new RegExp(`resp=${resp}`), `connection speaks RESP${resp}: ${protoLine}`);
step(`connected with RESP${resp}`);

// A session made by one request is read by the next.
const alice = request.agent(app);
await alice.post("/login?user=alice").expect(200);
const a1 = await me(alice);
assert.equal(a1.user, "alice");
const aliceKey = prefix + a1.id;
assert.equal(await client.exists(aliceKey), 1);
step("login then read");

const ids = [a1.id];
const users = ["alice"];
if (process.env.SR_PAUSE === "1") {
  // Requests in flight while the node dies: another user keeps counting,
  // one request after the other, until every group has a new leader.
  const erin = request.agent(app);
  await erin.post("/login?user=erin").expect(200);
  ids.push((await me(erin)).id);
  users.push("erin");
  let stop = false, incrs = 0, indeterminate = 0, loadErr = null;
  const load = (async () => {
    while (!stop) {
      const res = await erin.post("/incr");
      if (res.status === 200) incrs++;
      // A write in flight to the leader as it died: applied or not,
      // nobody knows (Redis says the same with a dropped connection).
      else if (/INDETERMINATE/.test(res.text)) indeterminate++;
      else return (loadErr = new Error(`/incr during the failover: ${res.status} ${res.text}`));
    }
  })();
  console.log("PAUSE");
  await waitGo();
  const again = await me(alice);
  assert.equal(again.user, "alice", "the session made before the node was killed");
  step("read after the kill");
  // The 2 s lifetime below needs writes that land within 2 s: wait until
  // every group has its new leader.
  console.log("SETTLE");
  await waitGo();
  // At least one /incr must go through across the failover; the one in
  // flight at the kill may take all of it (INDETERMINATE, or waiting for
  // the new leader), so stop only once one has (every group has a leader
  // now, so the next one does).
  await until("an /incr to go through after the failover", 30_000, async () => incrs > 0 || loadErr !== null);
  stop = true;
  await load;
  if (loadErr) throw loadErr;
  const count = (await me(erin)).count;
  assert.ok(incrs > 0 && count >= incrs && count <= incrs + indeterminate,
    `${incrs} /incr answered 200 and ${indeterminate} INDETERMINATE during the failover; the session counts ${count}`);
  step(`${incrs} requests during the failover (${indeterminate} INDETERMINATE)`);
}

// A change persists.
await alice.post("/incr").expect(200);
await alice.post("/incr").expect(200);
assert.equal((await me(alice)).count, 2);
assert.equal(JSON.parse(await client.get(aliceKey)).count, 2);
step("change persists");

// Touch: an unmodified request pushes the expiry out again (EXPIRE).
await client.pExpire(aliceKey, 5_000);
assert.ok((await client.pTTL(aliceKey)) <= 5_000);
await me(alice);
const ttl = await client.pTTL(aliceKey);
assert.ok(ttl > 50_000 && ttl <= 60_000, `PTTL after touch: ${ttl}`);
step("touch");

// A session with a 2 s lifetime is gone after it.
const bob = request.agent(app);
await bob.post("/login?user=bob&ms=2000").expect(200);
const b1 = await me(bob);
assert.equal(b1.user, "bob");
const bobKey = prefix + b1.id;
const bobTTL = await client.pTTL(bobKey);
assert.ok(bobTTL > 0 && bobTTL <= 2_000, `PTTL of a 2 s session: ${bobTTL}`);
const born = Date.now();
await until("the 2 s session to expire", 20_000, async () => (await client.exists(bobKey)) === 0);
assert.ok(Date.now() - born >= 900, "expired well before its lifetime");
assert.equal(await client.get(bobKey), null);
assert.equal((await me(bob)).user, null);
step("2 s session expires");

// Logout removes the session.
const carol = request.agent(app);
await carol.post("/login?user=carol").expect(200);
const carolKey = prefix + (await me(carol)).id;
assert.equal(await client.exists(carolKey), 1);
await carol.post("/logout").expect(200);
assert.equal(await client.exists(carolKey), 0);
assert.equal((await me(carol)).user, null);
step("logout");

// The store's own all/length/ids/clear (SCAN MATCH over every group, MGET).
const call = (fn) => new Promise((ok, fail) => fn((err, v) => (err ? fail(err) : ok(v))));
for (const u of ["u1", "u2", "u3", "u4", "u5"]) {
  users.push(u);
  const ag = request.agent(app);
  await ag.post(`/login?user=${u}`).expect(200);
  ids.push((await me(ag)).id);
}
assert.equal(await call((cb) => store.length(cb)), ids.length);
assert.deepEqual((await call((cb) => store.ids(cb))).sort(), [...ids].sort());
const all = await call((cb) => store.all(cb));
assert.deepEqual(all.map((s) => s.user).sort(), [...users].sort());
assert.deepEqual(all.map((s) => s.id).sort(), [...ids].sort());
step("all, length, ids");
await call((cb) => store.clear(cb));
assert.equal(await call((cb) => store.length(cb)), 0);
assert.equal((await me(alice)).user, null);
step("clear");

// Leave one session for the Go test to read with sessionraft's commands.
const dave = request.agent(app);
await dave.post("/login?user=dave").expect(200);
console.log("KEEP", prefix + (await me(dave)).id);

await client.quit();
console.log("PASS");
process.exit(0); // stdin stays open
