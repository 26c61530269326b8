// Shared settings and helpers of the Node client tests (see ../run.sh).
import assert from "node:assert/strict";

export const RPC_URL = process.env.FIREHOLE_RPC_URL;
export const WS_URL = process.env.FIREHOLE_WS_URL;
if (!RPC_URL || !WS_URL) {
  throw new Error("FIREHOLE_RPC_URL and FIREHOLE_WS_URL must be set (run ../run.sh)");
}

export const TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
export const TOKEN_ACCOUNT_LEN = 165;
export const MINT_LEN = 82;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// eventually retries fn until it returns a truthy value or ms pass.
export async function eventually(what, fn, ms = 60_000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      throw new Error(`${what}: not within ${ms} ms${last ? `: ${last.message}` : ""}`);
    }
    await sleep(500);
  }
}

// withTimeout rejects when p does not settle within ms.
export function withTimeout(what, p, ms = 60_000) {
  let t;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
    }),
  ]);
}

// uiAmountString is agave's real_number_string_trimmed(amount, decimals).
export function uiAmountString(amount, decimals) {
  const s = BigInt(amount).toString().padStart(decimals + 1, "0");
  if (decimals === 0) return s;
  const int = s.slice(0, s.length - decimals);
  const frac = s.slice(s.length - decimals).replace(/0+$/, "");
  return frac ? `${int}.${frac}` : int;
}

// tokenFields reads mint, owner and amount of a 165-byte SPL token account.
export function tokenFields(data) {
  const b = Buffer.from(data);
  assert.ok(b.length >= TOKEN_ACCOUNT_LEN, `token account data has ${b.length} bytes`);
  return { mint: b.subarray(0, 32), owner: b.subarray(32, 64), amount: b.readBigUInt64LE(64) };
}

// rpc is a raw JSON-RPC call, for checks that no client library wraps.
export async function rpc(method, params = []) {
  const res = await fetch(RPC_URL, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = await res.json();
  if (body.error) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
  return body.result;
}

// checkSupplyInvariant reads every SPL Token mint and token account in one
// getProgramAccounts (one Postgres query, one consistent view) and reports
// the mints whose supply differs from the sum of their accounts' amounts.
// The simulator keeps sum == supply in every transaction.
export async function supplyMismatches() {
  const all = await rpc("getProgramAccounts", [TOKEN_PROGRAM, { encoding: "jsonParsed", commitment: "confirmed" }]);
  const supply = new Map();
  const sums = new Map();
  for (const { pubkey, account } of all) {
    const p = account.data.parsed;
    if (p.type === "mint") supply.set(pubkey, BigInt(p.info.supply));
    if (p.type === "account") {
      sums.set(p.info.mint, (sums.get(p.info.mint) ?? 0n) + BigInt(p.info.tokenAmount.amount));
    }
  }
  const bad = [];
  for (const [mint, s] of supply) {
    if ((sums.get(mint) ?? 0n) !== s) bad.push(`${mint}: supply ${s}, accounts hold ${sums.get(mint) ?? 0n}`);
  }
  return { mints: supply.size, accounts: all.length - supply.size, bad };
}
