// @solana/web3.js 1.x against the gateway, unchanged: new Connection(http)
// finds the WebSocket on the next port by itself.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Connection, PublicKey } from "@solana/web3.js";
import {
  RPC_URL, TOKEN_PROGRAM, TOKEN_ACCOUNT_LEN, MINT_LEN,
  eventually, withTimeout, sleep, uiAmountString, tokenFields, supplyMismatches,
} from "./env.mjs";

const token = new PublicKey(TOKEN_PROGRAM);
let conn;
let tokenAccounts; // [{pubkey, account}] with 165-byte data

before(async () => {
  conn = new Connection(RPC_URL, "confirmed");
  tokenAccounts = await eventually("token accounts in getProgramAccounts", async () => {
    const r = await conn.getProgramAccounts(token, { filters: [{ dataSize: TOKEN_ACCOUNT_LEN }] });
    return r.length >= 20 ? r : null;
  });
});

after(async () => {
  // Connection keeps its WebSocket open only while subscriptions exist.
  await sleep(100);
});

test("getProgramAccounts with dataSize and memcmp filters", async () => {
  for (const { account } of tokenAccounts) {
    assert.equal(account.data.length, TOKEN_ACCOUNT_LEN);
    assert.ok(account.owner.equals(token));
  }
  const mint = new PublicKey(tokenFields(tokenAccounts[0].account.data).mint);
  const byMint = await conn.getProgramAccounts(token, {
    filters: [{ dataSize: TOKEN_ACCOUNT_LEN }, { memcmp: { offset: 0, bytes: mint.toBase58() } }],
  });
  assert.ok(byMint.length >= 1, "the account's own mint matches at least itself");
  for (const { account } of byMint) {
    assert.ok(new PublicKey(tokenFields(account.data).mint).equals(mint));
  }
});

test("getAccountInfo returns what getProgramAccounts listed", async () => {
  const { pubkey } = tokenAccounts[0];
  const info = await conn.getAccountInfo(pubkey);
  assert.ok(info, "account exists");
  assert.ok(info.owner.equals(token));
  assert.equal(info.data.length, TOKEN_ACCOUNT_LEN);
  assert.ok(info.lamports > 0);
  const missing = await conn.getAccountInfo(PublicKey.unique());
  assert.equal(missing, null);
});

test("getParsedAccountInfo: a token account's decimals and ui amount agree with its mint", async () => {
  for (const { pubkey } of tokenAccounts.slice(0, 5)) {
    const acc = await conn.getParsedAccountInfo(pubkey);
    const p = acc.value.data.parsed;
    assert.equal(acc.value.data.program, "spl-token");
    assert.equal(p.type, "account");
    const mint = await conn.getParsedAccountInfo(new PublicKey(p.info.mint));
    assert.equal(mint.value.data.parsed.type, "mint");
    assert.ok(mint.value.owner.equals(token));
    assert.equal(mint.value.data.space ?? MINT_LEN, MINT_LEN);
    const ta = p.info.tokenAmount;
    assert.equal(ta.decimals, mint.value.data.parsed.info.decimals);
    assert.equal(ta.uiAmountString, uiAmountString(ta.amount, ta.decimals));
    assert.equal(ta.uiAmount, Number(ta.uiAmountString));
  }
});

test("getTokenAccountBalance and getBalance agree with the account as read", async () => {
  // The simulator moves balances: read until two reads of the account
  // bracket the balance call unchanged.
  for (const { pubkey } of tokenAccounts.slice(0, 5)) {
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) {
      const before = await conn.getParsedAccountInfo(pubkey);
      const bal = await conn.getTokenAccountBalance(pubkey);
      const lamports = await conn.getBalance(pubkey);
      const after = await conn.getParsedAccountInfo(pubkey);
      const amount = (a) => a.value.data.parsed.info.tokenAmount;
      if (JSON.stringify(amount(before)) !== JSON.stringify(amount(after)) || before.value.lamports !== after.value.lamports) {
        await sleep(50);
        continue;
      }
      assert.deepEqual(bal.value, amount(before));
      assert.equal(lamports, before.value.lamports);
      ok = true;
    }
    assert.ok(ok, `no quiet moment to compare ${pubkey.toBase58()} in 20 tries`);
  }
  await assert.rejects(conn.getTokenAccountBalance(PublicKey.unique()), /could not find account/);
});

test("getTokenLargestAccounts: the mint's accounts, largest first", async () => {
  const mint = new PublicKey(tokenFields(tokenAccounts[0].account.data).mint);
  const { value } = await conn.getTokenLargestAccounts(mint);
  assert.ok(value.length >= 1 && value.length <= 20, `${value.length} accounts`);
  for (let i = 1; i < value.length; i++) {
    assert.ok(BigInt(value[i - 1].amount) >= BigInt(value[i].amount), "sorted by amount, largest first");
  }
  const acc = await conn.getParsedAccountInfo(value[0].address);
  assert.equal(acc.value.data.parsed.info.mint, mint.toBase58());
  assert.equal(value[0].decimals, acc.value.data.parsed.info.tokenAmount.decimals);
  await assert.rejects(conn.getTokenLargestAccounts(PublicKey.unique()), /could not find mint/);
});

test("getTokenSupply agrees with the parsed mint", async () => {
  const mint = new PublicKey(tokenFields(tokenAccounts[0].account.data).mint);
  let ok = false;
  for (let i = 0; i < 20 && !ok; i++) {
    const before = await conn.getParsedAccountInfo(mint);
    const { value } = await conn.getTokenSupply(mint);
    const after = await conn.getParsedAccountInfo(mint);
    const info = before.value.data.parsed.info;
    if (info.supply !== after.value.data.parsed.info.supply) {
      await sleep(50);
      continue;
    }
    assert.equal(value.amount, info.supply);
    assert.equal(value.decimals, info.decimals);
    assert.equal(value.uiAmountString, uiAmountString(value.amount, value.decimals));
    ok = true;
  }
  assert.ok(ok, "no quiet moment to compare the mint in 20 tries");
  await assert.rejects(conn.getTokenSupply(PublicKey.unique()), /could not find account/);
});

test("sum of a mint's token balances equals its supply", async () => {
  let last;
  for (let i = 0; i < 15; i++) {
    last = await supplyMismatches();
    assert.ok(last.mints > 0 && last.accounts > 0, "mints and token accounts listed");
    if (last.bad.length === 0) return;
    await sleep(300);
  }
  assert.fail(`no consistent read in 15 tries; last: ${last.bad.join("; ")}`);
});

test("onAccountChange notifications equal a later getAccountInfo", async () => {
  // Token accounts change when the simulator transfers; watch a few.
  const seen = new Map(); // pubkey → [{slot, data}]
  const ids = [];
  let first;
  const got = new Promise((resolve) => (first = resolve));
  for (const { pubkey } of tokenAccounts.slice(0, 12)) {
    ids.push(conn.onAccountChange(pubkey, (info, ctx) => {
      const k = pubkey.toBase58();
      if (!seen.has(k)) seen.set(k, []);
      seen.get(k).push({ slot: ctx.slot, data: Buffer.from(info.data), lamports: info.lamports, owner: info.owner });
      first(k);
    }, "confirmed"));
  }
  try {
    const k = await withTimeout("an account notification", got, 60_000);
    const before = seen.get(k).length;
    const { context, value } = await conn.getAccountInfoAndContext(new PublicKey(k));
    await sleep(1500); // notifications already in flight
    const notes = seen.get(k);
    for (const n of notes) assert.ok(n.owner.equals(token), `notification owner ${n.owner.toBase58()}`);
    assert.ok(context.slot >= notes[0].slot, "read is not older than the notification");
    const match = notes.slice(before - 1).some((n) => n.data.equals(value.data) && n.lamports === value.lamports);
    assert.ok(match, `getAccountInfo of ${k} matches none of its notifications from the last one before the read`);
  } finally {
    for (const id of ids) await conn.removeAccountChangeListener(id);
  }
});

test("onProgramAccountChange with dataSize and memcmp filters", async () => {
  const mint = new PublicKey(tokenFields(tokenAccounts[0].account.data).mint);
  const notes = [];
  let done;
  const got = new Promise((resolve) => (done = resolve));
  const id = conn.onProgramAccountChange(token, (keyed, ctx) => {
    notes.push(keyed);
    assert.ok(ctx.slot > 0);
    if (notes.length >= 2) done();
  }, "confirmed", [{ dataSize: TOKEN_ACCOUNT_LEN }, { memcmp: { offset: 0, bytes: mint.toBase58() } }]);
  try {
    await withTimeout("two program notifications", got, 60_000);
    for (const { accountId, accountInfo } of notes) {
      assert.equal(accountInfo.data.length, TOKEN_ACCOUNT_LEN);
      assert.ok(accountInfo.owner.equals(token));
      assert.ok(new PublicKey(tokenFields(accountInfo.data).mint).equals(mint), `${accountId} has another mint`);
    }
  } finally {
    await conn.removeProgramAccountChangeListener(id);
  }
});

test("onSlotChange delivers increasing slots", async () => {
  const slots = [];
  let done;
  const got = new Promise((resolve) => (done = resolve));
  const id = conn.onSlotChange((s) => {
    slots.push(s);
    if (slots.length >= 3) done();
  });
  try {
    await withTimeout("three slot notifications", got, 30_000);
    for (let i = 1; i < slots.length; i++) {
      assert.ok(slots[i].slot > slots[i - 1].slot, `slot ${slots[i].slot} after ${slots[i - 1].slot}`);
      assert.ok(slots[i].parent < slots[i].slot, `parent ${slots[i].parent} of slot ${slots[i].slot}`);
    }
    const current = await conn.getSlot();
    assert.ok(current >= slots[0].slot - 32, `getSlot ${current} far behind notifications from ${slots[0].slot}`);
  } finally {
    await conn.removeSlotChangeListener(id);
  }
});
