package accountcache

import "github.com/redis/rueidis"

// accountScript replaces the state of one account when the update is newer.
//
// KEYS[1] account hash
// ARGV    slot, write_version, status, owner, pb, lamports, closed (0|1), ttl_ms
//
// Numbers travel as decimal strings without leading zeros and are compared as
// such, so every u64 compares exactly (Lua numbers are doubles).
//
// Newer means (slot, write_version) greater than stored, or equal while the
// stored status is not OK (1) and the new one is: a re-decode after the mint
// arrived. A newer update replaces every field; a closed account (lamports 0)
// gets PEXPIRE ttl_ms when ttl_ms > 0, any other applied update PERSIST.
//
// Reply: {result, powner} where result is 1 applied, 2 equal to the stored
// version (a redelivery: nothing written), 0 stale; powner is the stored
// previous owner ("" when the owner never changed), so the caller can keep
// the program sets right even when it re-runs after a crash.
const accountScript = `
local function cmp(a, b)
  if #a ~= #b then
    if #a < #b then return -1 end
    return 1
  end
  if a == b then return 0 end
  if a < b then return -1 end
  return 1
end
local cur = redis.call('HMGET', KEYS[1], 'slot', 'wv', 'status', 'owner', 'powner')
local powner = cur[5] or ''
if cur[1] then
  local c = cmp(ARGV[1], cur[1])
  if c == 0 then c = cmp(ARGV[2], cur[2] or '0') end
  if c < 0 then return {0, powner} end
  if c == 0 and not (ARGV[3] == '1' and cur[3] ~= '1') then return {2, powner} end
  if cur[4] and cur[4] ~= ARGV[4] then powner = cur[4] end
end
redis.call('HSET', KEYS[1], 'pb', ARGV[5], 'slot', ARGV[1], 'wv', ARGV[2],
  'status', ARGV[3], 'owner', ARGV[4], 'lamports', ARGV[6], 'powner', powner)
if ARGV[7] == '1' and ARGV[8] ~= '0' then
  redis.call('PEXPIRE', KEYS[1], ARGV[8])
else
  redis.call('PERSIST', KEYS[1])
end
return {1, powner}
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

// SlotScript is the max-guarded slot write script.
var SlotScript = rueidis.NewLuaScript(slotScript)

// AccountScriptSource and SlotScriptSource are the Lua sources, for tools and
// other languages.
const (
	AccountScriptSource = accountScript
	SlotScriptSource    = slotScript
)
