package accountcache

import "github.com/redis/rueidis"

// applyFunc is the one ordering rule, shared by the single-account and the
// batched script: apply(key, slot, wv, status, owner, pb, lamports, closed,
// ttl_ms) replaces the state of one account when the update is newer.
//
// Numbers travel as decimal strings without leading zeros and are compared as
// such, so every u64 compares exactly (Lua numbers are doubles).
//
// Newer means (slot, write_version) greater than stored, or equal while the
// stored status is not OK (1) and the new one is: a re-decode after the mint
// arrived. A newer update replaces every field; a closed account (closed "1")
// gets PEXPIRE ttl_ms when ttl_ms is not "0"; an applied update to an account
// stored closed gets PERSIST (a reopened account keeps no TTL).
//
// It returns result, powner, cur: result 1 applied, 2 equal to the stored
// version (a redelivery: nothing written), 0 stale; powner is the stored
// previous owner ("" when the owner never changed), so a caller can keep the
// program sets right even when it re-runs after a crash; cur is the state
// before (slot, wv, status, owner, powner, lamports; false where missing).
const applyFunc = `
local function cmp(a, b)
  if #a ~= #b then
    if #a < #b then return -1 end
    return 1
  end
  if a == b then return 0 end
  if a < b then return -1 end
  return 1
end
local function apply(key, slot, wv, status, owner, pb, lamports, closed, ttl)
  local cur = redis.call('HMGET', key, 'slot', 'wv', 'status', 'owner', 'powner', 'lamports')
  local powner = cur[5] or ''
  if cur[1] then
    local c = cmp(slot, cur[1])
    if c == 0 then c = cmp(wv, cur[2] or '0') end
    if c < 0 then return 0, powner, cur end
    if c == 0 and not (status == '1' and cur[3] ~= '1') then return 2, powner, cur end
    if cur[4] and cur[4] ~= owner then powner = cur[4] end
  end
  redis.call('HSET', key, 'pb', pb, 'slot', slot, 'wv', wv,
    'status', status, 'owner', owner, 'lamports', lamports, 'powner', powner)
  if closed == '1' and ttl ~= '0' then
    redis.call('PEXPIRE', key, ttl)
  elseif cur[6] == '0' then
    redis.call('PERSIST', key)
  end
  return 1, powner, cur
end
`

// accountScript applies one update.
//
// KEYS[1] account hash
// ARGV    slot, write_version, status, owner, pb, lamports, closed (0|1), ttl_ms
// Reply   {result, powner}
const accountScript = applyFunc + `
local r, p = apply(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
return {r, p}
`

// accountBatchScript applies one update per key, in order, and keeps the
// program sets in the same atomic step. When an update is applied it adds
// the pubkey to <prefix>prog:{<owner>} if the account is new, changed owner
// or reopened, and removes it from the old owner's set (owner changed) or
// from its owner's set (closed). As nothing can come between the state and
// the sets, the sets change only on those transitions. The script touches
// keys in many hash slots, some not declared in KEYS, so it is only for a
// single Redis node; in a cluster the Writer sends accountScript per account
// and the set commands separately.
//
// KEYS    account hashes <prefix>acct:{<pubkey>}
// ARGV    ttl_ms, prefix, then per key: slot, write_version, status, owner, pb, lamports, closed
// Reply   {result1, powner1, result2, powner2, ...}
const accountBatchScript = applyFunc + `
local out = {}
local ttl, prefix = ARGV[1], ARGV[2]
local skip = #prefix + 6
for i = 1, #KEYS do
  local a = 3 + (i - 1) * 7
  local owner, closed = ARGV[a+3], ARGV[a+6]
  local r, p, cur = apply(KEYS[i], ARGV[a], ARGV[a+1], ARGV[a+2], owner, ARGV[a+4], ARGV[a+5], closed, ttl)
  if r == 1 then
    local pk = string.sub(KEYS[i], skip + 1, -2)
    local was = cur[4]
    local wasOpen = was and cur[6] ~= '0'
    local open = closed ~= '1'
    if was and was ~= owner then
      redis.call('SREM', prefix .. 'prog:{' .. was .. '}', pk)
      wasOpen = false
    end
    if open and not wasOpen then
      redis.call('SADD', prefix .. 'prog:{' .. owner .. '}', pk)
    elseif wasOpen and not open then
      redis.call('SREM', prefix .. 'prog:{' .. owner .. '}', pk)
    end
  end
  out[#out+1] = r
  out[#out+1] = p
end
return out
`

// slotScript raises a slot key to ARGV[1] unless it already holds a greater
// or equal slot. Reply: 1 raised, 0 not.
const slotScript = `
local cur = redis.call('GET', KEYS[1])
local a = ARGV[1]
if cur and (#cur > #a or (#cur == #a and cur >= a)) then return 0 end
redis.call('SET', KEYS[1], a)
return 1
`

// AccountScript is the account write script (see docs/redis-layout.md).
// Other writers must use it, unchanged, so that every writer applies the same
// ordering rule.
var AccountScript = rueidis.NewLuaScript(accountScript)

// AccountBatchScript is the batched form of AccountScript for a single node.
var AccountBatchScript = rueidis.NewLuaScript(accountBatchScript)

// SlotScript is the max-guarded slot write script.
var SlotScript = rueidis.NewLuaScript(slotScript)

// AccountScriptSource and SlotScriptSource are the Lua sources, for tools and
// other languages.
const (
	AccountScriptSource      = accountScript
	AccountBatchScriptSource = accountBatchScript
	SlotScriptSource         = slotScript
)
