// @solana/kit against the gateway: createSolanaRpc and
// createSolanaRpcSubscriptions with the same reads and an account
// notification checked against a later getAccountInfo.
import { test, before } from "node:test";
import { setMaxListeners } from "node:events";
import assert from "node:assert/strict";
import { address, createSolanaRpc, createSolanaRpcSubscriptions } from "@solana/kit";
import {
  RPC_URL, WS_URL, TOKEN_PROGRAM, TOKEN_ACCOUNT_LEN,
  eventually, withTimeout, sleep, uiAmountString,
} from "./env.mjs";

const rpc = createSolanaRpc(RPC_URL);
const subs = createSolanaRpcSubscriptions(WS_URL);
const token = address(TOKEN_PROGRAM);
let accounts; // [{pubkey, account}] base64

const b64 = (data) => Buffer.from(data[0], "base64");

before(async () => {
  accounts = await eventually("token accounts", async () => {
    const r = await rpc.getProgramAccounts(token, {
      encoding: "base64", commitment: "confirmed", filters: [{ dataSize: BigInt(TOKEN_ACCOUNT_LEN) }],
    }).send();
    return r.length >= 20 ? r : null;
  });
});

test("kit getProgramAccounts with a memcmp filter", async () => {
  const mint = b64(accounts[0].account.data).subarray(0, 32);
  const { getBase58Decoder } = await import("@solana/kit");
  const mintB58 = getBase58Decoder().decode(mint);
  const r = await rpc.getProgramAccounts(token, {
    encoding: "base64",
    filters: [{ dataSize: BigInt(TOKEN_ACCOUNT_LEN) }, { memcmp: { offset: 0n, bytes: mintB58, encoding: "base58" } }],
  }).send();
  assert.ok(r.length >= 1);
  for (const { account } of r) assert.ok(b64(account.data).subarray(0, 32).equals(mint));
});

test("kit getAccountInfo base64 and jsonParsed", async () => {
  const pk = accounts[0].pubkey;
  const { value, context } = await rpc.getAccountInfo(pk, { encoding: "base64", commitment: "confirmed" }).send();
  assert.ok(value);
  assert.equal(value.owner, token);
  assert.equal(b64(value.data).length, TOKEN_ACCOUNT_LEN);
  assert.equal(typeof value.lamports, "bigint");
  assert.ok(context.slot > 0n);
  const parsed = (await rpc.getAccountInfo(pk, { encoding: "jsonParsed" }).send()).value;
  assert.equal(parsed.data.program, "spl-token");
  const ta = parsed.data.parsed.info.tokenAmount;
  const mint = (await rpc.getAccountInfo(address(parsed.data.parsed.info.mint), { encoding: "jsonParsed" }).send()).value;
  assert.equal(ta.decimals, mint.data.parsed.info.decimals);
  assert.equal(ta.uiAmountString, uiAmountString(ta.amount, ta.decimals));
});

test("kit accountNotifications equal a later getAccountInfo", async () => {
  const ac = new AbortController();
  setMaxListeners(64, ac.signal); // one listener per subscription
  try {
    // Several accounts, one notification from any of them.
    const seen = new Map();
    let first;
    const got = new Promise((resolve) => (first = resolve));
    for (const { pubkey } of accounts.slice(0, 12)) {
      const stream = await subs.accountNotifications(pubkey, { commitment: "confirmed", encoding: "base64" })
        .subscribe({ abortSignal: ac.signal });
      (async () => {
        try {
          for await (const n of stream) {
            if (!seen.has(pubkey)) seen.set(pubkey, []);
            seen.get(pubkey).push({ slot: n.context.slot, data: b64(n.value.data), lamports: n.value.lamports });
            first(pubkey);
          }
        } catch {
          // aborted
        }
      })();
    }
    const pk = await withTimeout("an account notification", got, 60_000);
    const before = seen.get(pk).length;
    const { value, context } = await rpc.getAccountInfo(pk, { encoding: "base64", commitment: "confirmed" }).send();
    await sleep(1500);
    const notes = seen.get(pk);
    assert.ok(context.slot >= notes[0].slot);
    const data = b64(value.data);
    assert.ok(notes.slice(before - 1).some((n) => n.data.equals(data) && n.lamports === value.lamports),
      `getAccountInfo of ${pk} matches none of its notifications from the last one before the read`);
  } finally {
    ac.abort();
  }
});

test("kit slotNotifications", async () => {
  const ac = new AbortController();
  try {
    const stream = await subs.slotNotifications().subscribe({ abortSignal: ac.signal });
    const slots = [];
    await withTimeout("three slots", (async () => {
      for await (const s of stream) {
        slots.push(s.slot);
        if (slots.length >= 3) return;
      }
    })(), 30_000);
    for (let i = 1; i < slots.length; i++) assert.ok(slots[i] > slots[i - 1]);
    const current = await rpc.getSlot().send();
    assert.ok(current >= slots[0] - 32n);
  } finally {
    ac.abort();
  }
});
