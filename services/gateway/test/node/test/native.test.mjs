// Firehole's native protocol (docs/native-protocol.md) end to end: snapshot
// of the simulator's mints joined to live updates from the real cacher, then
// resume from a cursor on a new connection.
import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { WS_URL, TOKEN_PROGRAM, MINT_LEN, rpc, withTimeout } from "./env.mjs";

const nativeURL = () => {
  const u = new URL(WS_URL);
  u.pathname = "/native";
  return u.toString();
};

// open connects and returns {next(pred, ms), send, close}; next resolves with
// the first frame (in arrival order) that pred accepts, failing on errors.
function open() {
  const ws = new WebSocket(nativeURL());
  const frames = [];
  const waiters = [];
  let closed = null;
  ws.on("message", (b) => {
    frames.push(JSON.parse(b.toString()));
    for (const w of waiters.splice(0)) w();
  });
  ws.on("close", (code, reason) => {
    closed = `closed ${code} ${reason}`;
    for (const w of waiters.splice(0)) w();
  });
  const opened = new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  return {
    opened,
    send: (o) => ws.send(JSON.stringify(o)),
    close: () => ws.close(),
    async next(what, ms = 30_000) {
      return withTimeout(what, (async () => {
        for (;;) {
          const f = frames.shift();
          if (f) {
            if (f.type === "error") throw new Error(`server error ${JSON.stringify(f)}`);
            return f;
          }
          if (closed) throw new Error(closed);
          await new Promise((r) => waiters.push(r));
        }
      })(), ms);
    },
  };
}

const mintSub = (extra) => ({
  op: "subscribe", id: "mints", programs: [TOKEN_PROGRAM], encoding: "jsonParsed",
  filters: [{ dataSize: MINT_LEN }], where: [{ path: "parsed.type", op: "eq", value: "mint" }], ...extra,
});

test("native snapshot, live updates and cursor resume", async () => {
  const mints = await rpc("getProgramAccounts", [TOKEN_PROGRAM, { encoding: "base64", filters: [{ dataSize: MINT_LEN }] }]);
  assert.ok(mints.length > 0);

  const c = open();
  await c.opened;
  c.send(mintSub({ snapshot: true }));
  assert.equal((await c.next("subscribed")).type, "subscribed");
  const last = new Map(); // pubkey → {slot, writeVersion, supply}
  let f;
  while ((f = await c.next("snapshot")).type === "snapshot") {
    assert.equal(f.account.owner, TOKEN_PROGRAM);
    assert.equal(f.account.parsed.type, "mint");
    assert.equal(f.account.data, undefined, "jsonParsed sends no data for decoded accounts");
    assert.ok(!last.has(f.account.pubkey), `${f.account.pubkey} twice in the snapshot`);
    last.set(f.account.pubkey, { ...f.account, supply: BigInt(f.account.parsed.info.supply) });
  }
  assert.equal(f.type, "snapshotEnd");
  assert.equal(f.count, last.size);
  assert.equal(last.size, mints.length, "snapshot holds every mint getProgramAccounts lists");

  // Live: mintTo raises supply; per account versions only move forward.
  let cursor = BigInt(f.cursor);
  for (let i = 0; i < 3; i++) {
    const u = await c.next("a live mint update", 60_000);
    assert.equal(u.type, "update");
    const prev = last.get(u.account.pubkey);
    assert.ok(prev, "update for a mint the snapshot had");
    assert.ok(u.account.slot > prev.slot || (u.account.slot === prev.slot && u.account.writeVersion > prev.writeVersion),
      `update at ${u.account.slot}/${u.account.writeVersion} not newer than ${prev.slot}/${prev.writeVersion}`);
    assert.ok(BigInt(u.account.parsed.info.supply) >= prev.supply, "supply never shrinks");
    assert.ok(BigInt(u.cursor) > cursor, "cursors increase");
    cursor = BigInt(u.cursor);
    last.set(u.account.pubkey, { ...u.account, supply: BigInt(u.account.parsed.info.supply) });
  }
  c.close();

  // Resume on a new connection: the next message is after the cursor.
  const r = open();
  await r.opened;
  r.send(mintSub({ cursor: cursor.toString() }));
  assert.equal((await r.next("subscribed")).cursor, cursor.toString());
  const u = await r.next("a resumed update", 60_000);
  assert.equal(u.type, "update");
  assert.ok(BigInt(u.cursor) > cursor);
  const prev = last.get(u.account.pubkey);
  assert.ok(u.account.slot > prev.slot || u.account.writeVersion > prev.writeVersion, "resume repeats nothing");
  r.close();
});
