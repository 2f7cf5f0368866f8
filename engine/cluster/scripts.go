package cluster

import "github.com/redis/go-redis/v9"

// Redis key layout (P is RedisConfig.Prefix, default "tw:"):
//
//	P nodes                 SET   ids of registered nodes (live or not yet swept)
//	P node:<id>             HASH  addr rooms players cap draining updated exp suspect (PEXPIRE NodeTTL)
//	P node:<id>:rooms       SET   ids of the node's rooms
//	P node:<id>:resv        ZSET  reservation id -> expiry ms (pending seats on the node)
//	P room:<id>             HASH  type node seats max locked private state sseq m:<key>=<metadata>
//	                              (sseq: sequence number of the last seat sync)
//	P room:<id>:resv        ZSET  reservation id -> expiry ms
//	P room:<id>:ops         ZSET  "<seq>:<seat change>" -> seq: the owner's sequenced seat
//	                              operations applied since the last seat sync
//	P type:<type>           SET   ids of rooms of that type
//	P open:<type>           ZSET  rooms of that type that are public, unlocked and have a
//	                              free seat -> -(seats + live reservations) at the last
//	                              update (join-or-create candidates, fullest first)
//	P openm:<type>:<n>:<k>=<v> ZSET the same, for rooms whose metadata has k=v (n = len(k))
//	P recheck               ZSET  room id -> earliest live reservation expiry ms: when it
//	                              passes, the room's index entry is refreshed, and a
//	                              pending room nobody took is removed
//	P used:<reservation>    STRING consumed marker (PEXPIRE token expiry + 1 min)
//	P mm:<queue>:tickets    HASH  ticket id -> JSON ticket
//	P mm:<queue>:lease      HASH  holder fence exp (PEXPIRE lease ttl)
//	P mm:<queue>:fence      STRING fencing counter (INCR per new holder)
//	P bus:<node>            pub/sub channel of the node
//
// Every script gets ARGV[1] = P and ARGV[2] = now (Unix ms, caller's clock).
// Liveness compares the node's exp field with now; a node found dead is
// swept (its rooms, their reservations, its keys) by the script that finds it.
const luaPrelude = `
local P = ARGV[1]
local NOW = tonumber(ARGV[2])
local ALIVE = {}
local function alive(id)
  local c = ALIVE[id]
  if c ~= nil then return c end
  local e = redis.call('HGET', P..'node:'..id, 'exp')
  c = (e ~= false and tonumber(e) > NOW)
  ALIVE[id] = c
  return c
end
local function mkey(typ, k, v) return P..'openm:'..typ..':'..#k..':'..k..'='..v end
-- open_keys lists the join-or-create index keys a room of type typ is filed under.
local function open_keys(rk, typ)
  local keys = {P..'open:'..typ}
  local h = redis.call('HGETALL', rk)
  for i = 1, #h, 2 do
    if string.sub(h[i], 1, 2) == 'm:' then table.insert(keys, mkey(typ, string.sub(h[i], 3), h[i+1])) end
  end
  return keys
end
local function unindex(rid, rk, typ)
  for _, k in ipairs(open_keys(rk, typ)) do redis.call('ZREM', k, rid) end
end
local function drop_room(rid, nid)
  local rk = P..'room:'..rid
  local typ = redis.call('HGET', rk, 'type')
  if typ then redis.call('SREM', P..'type:'..typ, rid); unindex(rid, rk, typ) end
  redis.call('ZREM', P..'recheck', rid)
  if nid then
    local ids = redis.call('ZRANGE', rk..':resv', 0, -1)
    for _, r in ipairs(ids) do redis.call('ZREM', P..'node:'..nid..':resv', r) end
    redis.call('SREM', P..'node:'..nid..':rooms', rid)
  end
  redis.call('DEL', rk, rk..':resv', rk..':ops')
end
local function sweep_node(id)
  local nk = P..'node:'..id
  for _, rid in ipairs(redis.call('SMEMBERS', nk..':rooms')) do
    if redis.call('HGET', P..'room:'..rid, 'node') == id then drop_room(rid, nil) end
  end
  redis.call('DEL', nk, nk..':rooms', nk..':resv')
  redis.call('SREM', P..'nodes', id)
  ALIVE[id] = false
end
local function sweep_all()
  for _, id in ipairs(redis.call('SMEMBERS', P..'nodes')) do
    if not alive(id) then sweep_node(id) end
  end
end
local function node_load(id)
  local nk = P..'node:'..id
  local v = redis.call('HMGET', nk, 'players', 'cap', 'draining')
  redis.call('ZREMRANGEBYSCORE', nk..':resv', '-inf', NOW)
  return tonumber(v[1]) or 0, redis.call('ZCARD', nk..':resv'), tonumber(v[2]) or 0, v[3] == '1'
end
-- suspect: another node could not reach this one lately (SuspectNode);
-- it gets no new rooms or join-or-create players until the mark lapses.
local function suspect(id)
  local s = redis.call('HGET', P..'node:'..id, 'suspect')
  return s ~= false and tonumber(s) > NOW
end
local function has_room(players, reserved, cap, seats)
  return cap <= 0 or players + reserved + seats <= cap
end
local function room_used(rid, seats)
  local zk = P..'room:'..rid..':resv'
  redis.call('ZREMRANGEBYSCORE', zk, '-inf', NOW)
  return seats + redis.call('ZCARD', zk)
end
-- place creates a pending room on the least-loaded live non-draining node
-- with capacity for seats more players; meta is a flat k,v list.
local function place(rid, typ, max, meta, seats)
  local best, bestLoad, bestId
  local live = false
  for _, id in ipairs(redis.call('SMEMBERS', P..'nodes')) do
    if not alive(id) then
      sweep_node(id)
    else
      live = true
      local players, reserved, cap, draining = node_load(id)
      if not draining and not suspect(id) and has_room(players, reserved, cap, seats) then
        local load
        if cap <= 0 then load = (players + reserved) / 1e9 else load = (players + reserved) / cap end
        if best == nil or load < bestLoad or (load == bestLoad and id < bestId) then
          best, bestLoad, bestId = id, load, id
        end
      end
    end
  end
  if best == nil then return nil, live end
  local rk = P..'room:'..rid
  redis.call('HSET', rk, 'type', typ, 'node', best, 'seats', 0, 'max', max,
    'locked', 0, 'private', 0, 'state', 'pending')
  for i = 1, #meta, 2 do redis.call('HSET', rk, 'm:'..meta[i], meta[i+1]) end
  redis.call('SADD', P..'type:'..typ, rid)
  redis.call('SADD', P..'node:'..best..':rooms', rid)
  return best
end
-- update_open files the room in (or out of) the join-or-create index with
-- its current use, and schedules its recheck at its earliest reservation
-- expiry. Every change of seats, reservations, lock or privacy calls it.
local function update_open(rid)
  local rk = P..'room:'..rid
  local v = redis.call('HMGET', rk, 'type', 'seats', 'max', 'locked', 'private')
  if not v[1] then redis.call('ZREM', P..'recheck', rid) return end
  local used = room_used(rid, tonumber(v[2]) or 0)
  local keys = open_keys(rk, v[1])
  if v[4] ~= '1' and v[5] ~= '1' and used < (tonumber(v[3]) or 0) then
    for _, k in ipairs(keys) do redis.call('ZADD', k, -used, rid) end
  else
    for _, k in ipairs(keys) do redis.call('ZREM', k, rid) end
  end
  local first = redis.call('ZRANGE', rk..':resv', 0, 0, 'WITHSCORES')
  if #first > 0 then redis.call('ZADD', P..'recheck', first[2], rid) else redis.call('ZREM', P..'recheck', rid) end
end
-- recheck refreshes up to limit rooms whose earliest reservation expired:
-- a pending room that no player took (no seat, no live reservation) is
-- removed; any other is re-indexed with its current use.
local function recheck(limit)
  local due = redis.call('ZRANGEBYSCORE', P..'recheck', '-inf', NOW, 'LIMIT', 0, limit)
  for _, rid in ipairs(due) do
    local v = redis.call('HMGET', P..'room:'..rid, 'node', 'seats', 'state')
    if not v[1] then
      redis.call('ZREM', P..'recheck', rid)
    elseif v[3] == 'pending' and (tonumber(v[2]) or 0) == 0 and room_used(rid, 0) == 0 then
      drop_room(rid, v[1])
    else
      update_open(rid)
    end
  end
  return #due
end
-- seat_op applies the seat change d (1 or -1, floor 0) of the owner's
-- operation numbered seq (sseq: the same, as given) to room key rk and
-- reports whether seats changed. A sequenced operation (seq > 0) not newer
-- than the room's last seat sync, or seen before, changes nothing; one
-- applied is kept in rk:ops until the next sync (see scriptSyncSeats).
local function seat_op(rk, seq, sseq, d)
  if seq > 0 then
    if seq <= (tonumber(redis.call('HGET', rk, 'sseq')) or 0) then return false end
    if #redis.call('ZRANGEBYSCORE', rk..':ops', seq, seq, 'LIMIT', 0, 1) > 0 then return false end
  end
  if d < 0 and (tonumber(redis.call('HGET', rk, 'seats')) or 0) <= 0 then d = 0 end
  if d ~= 0 then redis.call('HINCRBY', rk, 'seats', d) end
  if seq > 0 then redis.call('ZADD', rk..':ops', seq, sseq..':'..d) end
  return d ~= 0
end
local function reserve(rid, nid, resv, exp)
  redis.call('ZADD', P..'room:'..rid..':resv', exp, resv)
  redis.call('ZADD', P..'node:'..nid..':resv', exp, resv)
end
local function room_view(rid)
  local rk = P..'room:'..rid
  local h = redis.call('HGETALL', rk)
  if #h == 0 then return nil end
  local nid
  for i = 1, #h, 2 do if h[i] == 'node' then nid = h[i+1] end end
  if not nid or not alive(nid) then
    if nid then sweep_node(nid) end
    return nil
  end
  redis.call('ZREMRANGEBYSCORE', rk..':resv', '-inf', NOW)
  table.insert(h, 'id'); table.insert(h, rid)
  table.insert(h, 'reserved'); table.insert(h, tostring(redis.call('ZCARD', rk..':resv')))
  table.insert(h, 'addr'); table.insert(h, redis.call('HGET', P..'node:'..nid, 'addr') or '')
  return h
end
`

func script(body string) *redis.Script { return redis.NewScript(luaPrelude + body) }

// ARGV: 3 id, 4 addr, 5 rooms, 6 players, 7 cap, 8 draining, 9 ttl ms.
var scriptHeartbeat = script(`
local id = ARGV[3]
local nk = P..'node:'..id
local created = 0
if not alive(id) then
  if redis.call('EXISTS', nk) == 1 or redis.call('SISMEMBER', P..'nodes', id) == 1 then sweep_node(id) end
  created = 1
end
local ttl = tonumber(ARGV[9])
redis.call('HSET', nk, 'addr', ARGV[4], 'rooms', ARGV[5], 'players', ARGV[6], 'cap', ARGV[7],
  'draining', ARGV[8], 'updated', NOW, 'exp', NOW + ttl)
redis.call('PEXPIRE', nk, ttl)
redis.call('SADD', P..'nodes', id)
ALIVE[id] = true
sweep_all()
recheck(1000)
return created
`)

// ARGV: 3 id, 4 until ms.
var scriptSuspect = script(`
if alive(ARGV[3]) then redis.call('HSET', P..'node:'..ARGV[3], 'suspect', ARGV[4]) end
return 'OK'
`)

// ARGV: 3 id.
var scriptDeregister = script(`sweep_node(ARGV[3]) return 1`)

var scriptNodes = script(`
sweep_all()
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', P..'nodes')) do
  local h = redis.call('HGETALL', P..'node:'..id)
  local _, reserved = node_load(id)
  table.insert(h, 'id'); table.insert(h, id)
  table.insert(h, 'reserved'); table.insert(h, tostring(reserved))
  table.insert(out, h)
end
return out
`)

// ARGV: 3 rid, 4 type, 5 node, 6 seats, 7 max, 8 locked, 9 private, 10 state, 11.. meta k v.
var scriptPutRoom = script(`
local rid, typ, nid = ARGV[3], ARGV[4], ARGV[5]
if not alive(nid) then return 'NONODE' end
local rk = P..'room:'..rid
local cur = redis.call('HMGET', rk, 'node', 'type')
if cur[1] and cur[1] ~= nid then drop_room(rid, cur[1]); cur = {false, false} end
if cur[1] then
  unindex(rid, rk, cur[2])
  if cur[2] ~= typ then redis.call('SREM', P..'type:'..cur[2], rid) end
  local h = redis.call('HKEYS', rk)
  for _, k in ipairs(h) do if string.sub(k, 1, 2) == 'm:' then redis.call('HDEL', rk, k) end end
else
  redis.call('HSET', rk, 'seats', ARGV[6])
end
redis.call('HSET', rk, 'type', typ, 'node', nid, 'max', ARGV[7], 'locked', ARGV[8],
  'private', ARGV[9], 'state', ARGV[10])
for i = 11, #ARGV, 2 do redis.call('HSET', rk, 'm:'..ARGV[i], ARGV[i+1]) end
redis.call('SADD', P..'type:'..typ, rid)
redis.call('SADD', P..'node:'..nid..':rooms', rid)
update_open(rid)
return 'OK'
`)

// ARGV: 3 rid.
var scriptRemoveRoom = script(`
local nid = redis.call('HGET', P..'room:'..ARGV[3], 'node')
drop_room(ARGV[3], nid or nil)
return 'OK'
`)

// ARGV: 3 rid.
var scriptLookup = script(`return room_view(ARGV[3]) or 'NOTFOUND'`)

// ARGV: 3 type (” = all).
var scriptList = script(`
sweep_all()
local ids
if ARGV[3] ~= '' then
  ids = redis.call('SMEMBERS', P..'type:'..ARGV[3])
else
  ids = {}
  for _, id in ipairs(redis.call('SMEMBERS', P..'nodes')) do
    for _, r in ipairs(redis.call('SMEMBERS', P..'node:'..id..':rooms')) do table.insert(ids, r) end
  end
end
local out = {}
for _, rid in ipairs(ids) do
  local v = room_view(rid)
  if v then table.insert(out, v) end
end
return out
`)

// ARGV: 3 rid, 4 seq.
var scriptReleaseSeat = script(`
local rk = P..'room:'..ARGV[3]
local v = redis.call('HMGET', rk, 'node', 'seats', 'state')
if not v[1] then return 'NOTFOUND' end
if seat_op(rk, tonumber(ARGV[4]), ARGV[4], -1) then
  local seats = tonumber(redis.call('HGET', rk, 'seats')) or 0
  local nk = P..'node:'..v[1]
  if (tonumber(redis.call('HGET', nk, 'players')) or 0) > 0 then redis.call('HINCRBY', nk, 'players', -1) end
  if v[3] == 'pending' and seats == 0 and room_used(ARGV[3], 0) == 0 then
    -- Placed, never materialised, and its only player is gone.
    drop_room(ARGV[3], v[1])
  else
    update_open(ARGV[3])
  end
end
return 'OK'
`)

// ARGV: 3 node, 4 seq, then room id and seats pairs.
//
// For each room of the node whose last sync is older than seq: seats =
// the owner's count + the seat changes of the operations newer than seq
// applied so far (rk:ops); older operations are forgotten (the owner's
// count holds them, and seat_op now ignores them if they arrive late).
var scriptSyncSeats = script(`
local nid, seq = ARGV[3], tonumber(ARGV[4])
for i = 5, #ARGV, 2 do
  local rid = ARGV[i]
  local rk = P..'room:'..rid
  local v = redis.call('HMGET', rk, 'node', 'sseq', 'seats')
  if v[1] == nid and (tonumber(v[2]) or 0) < seq then
    local ok = rk..':ops'
    local seats = tonumber(ARGV[i+1])
    if redis.call('EXISTS', ok) == 1 then
      redis.call('ZREMRANGEBYSCORE', ok, '-inf', seq)
      for _, m in ipairs(redis.call('ZRANGE', ok, 0, -1)) do
        seats = seats + (tonumber(string.match(m, ':(-?%d+)$')) or 0)
      end
    end
    if seats < 0 then seats = 0 end
    if seats ~= (tonumber(v[3]) or 0) then
      redis.call('HSET', rk, 'seats', seats, 'sseq', ARGV[4])
      update_open(rid)
    else
      redis.call('HSET', rk, 'sseq', ARGV[4])
    end
  end
end
return 'OK'
`)

// ARGV: 3 type, 4 resv id, 5 exp, 6 new room id, 7 max, 8 scan limit,
// 9 nfilter, then filter k v pairs (sorted by key), then nmeta, then meta k v
// pairs (filter included).
//
// Candidates come from the index of the first filter pair (or of the type),
// fullest first; at most scan limit of them are examined, so the cost does
// not grow with the number of open rooms. An index score is -(seats +
// reservations) at the room's last update, an upper bound of its use (only
// expiries lower it, and recheck refreshes those), so the scan stops as
// soon as no later candidate can be fuller than the best found.
var scriptJoinOrCreate = script(`
local typ, resv, exp, newrid, max = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local limit = tonumber(ARGV[8])
local nf = tonumber(ARGV[9])
local fi = 10
local mi = fi + 2*nf
local nm = tonumber(ARGV[mi])
local key = P..'open:'..typ
if nf > 0 then key = mkey(typ, ARGV[fi], ARGV[fi+1]) end
local best, bestUsed, bestNode = nil, -1, nil
local loads = {}
-- examine weighs one candidate; true: stop (no later one can be fuller).
local function examine(rid, score)
  if -tonumber(score) <= bestUsed then return true end
  local rk = P..'room:'..rid
  local v = redis.call('HMGET', rk, 'node', 'seats', 'max', 'locked', 'private', 'type')
  if not v[1] or v[6] ~= typ then
    redis.call('ZREM', key, rid)
  elseif v[4] == '1' or v[5] == '1' then
    update_open(rid)
  else
    local nid = v[1]
    if not alive(nid) then
      sweep_node(nid)
    else
      local l = loads[nid]
      if l == nil then
        local players, reserved, cap, draining = node_load(nid)
        l = (not draining) and not suspect(nid) and has_room(players, reserved, cap, 1)
        loads[nid] = l
      end
      if l then
        local used = room_used(rid, tonumber(v[2]) or 0)
        if used >= (tonumber(v[3]) or 0) then
          update_open(rid)
        elseif used > bestUsed or (used == bestUsed and rid < best) then
          local ok = true
          for i = fi, mi - 1, 2 do
            if redis.call('HGET', rk, 'm:'..ARGV[i]) ~= ARGV[i+1] then ok = false break end
          end
          if ok then best, bestUsed, bestNode = rid, used, nid end
        end
      end
    end
  end
  return false
end
-- A first page of 8: the fullest candidates usually decide at once (the
-- second is no fuller than the first), and returning 64 scored entries
-- costs more than the examination itself. Only when the first page does
-- not decide are the rest, up to the scan limit, read (from the top again,
-- skipping those examined: their scores may have changed).
local first = math.min(limit, 8)
local seen = {}
local cands = redis.call('ZRANGE', key, 0, first - 1, 'WITHSCORES')
local stop = false
for ci = 1, #cands, 2 do
  seen[cands[ci]] = true
  if examine(cands[ci], cands[ci+1]) then stop = true break end
end
if not stop and #cands == 2 * first and limit > first then
  cands = redis.call('ZRANGE', key, 0, limit - 1, 'WITHSCORES')
  for ci = 1, #cands, 2 do
    if not seen[cands[ci]] and examine(cands[ci], cands[ci+1]) then break end
  end
end
local created = 0
if best == nil then
  local meta = {}
  for i = mi + 1, mi + 2*nm do table.insert(meta, ARGV[i]) end
  local live
  bestNode, live = place(newrid, typ, max, meta, 1)
  if bestNode == nil then
    if live then return 'NOCAP' end
    return 'NONODES'
  end
  best, created = newrid, 1
end
reserve(best, bestNode, resv, exp)
update_open(best)
return {best, bestNode, redis.call('HGET', P..'node:'..bestNode, 'addr') or '', created}
`)

// ARGV: 3 rid, 4 resv id, 5 exp.
var scriptReserve = script(`
local rid = ARGV[3]
local rk = P..'room:'..rid
local v = redis.call('HMGET', rk, 'node', 'seats', 'max', 'locked', 'type')
if not v[1] then return 'NOTFOUND' end
if not alive(v[1]) then sweep_node(v[1]) return 'NOTFOUND' end
if v[4] == '1' or room_used(rid, tonumber(v[2]) or 0) >= (tonumber(v[3]) or 0) then return 'FULL' end
reserve(rid, v[1], ARGV[4], ARGV[5])
update_open(rid)
return {v[1], v[5], redis.call('HGET', P..'node:'..v[1], 'addr') or ''}
`)

// ARGV: 3 rid, 4 node, 5 resv id, 6 used-mark ttl ms, 7 seq.
var scriptConsume = script(`
local rid, nid, resv = ARGV[3], ARGV[4], ARGV[5]
local uk = P..'used:'..resv
if redis.call('EXISTS', uk) == 1 then return 'USED' end
local rk = P..'room:'..rid
if redis.call('HGET', rk, 'node') ~= nid then return 'NOTFOUND' end
if not alive(nid) then sweep_node(nid) return 'NOTFOUND' end
local s = redis.call('ZSCORE', rk..':resv', resv)
redis.call('ZREM', rk..':resv', resv)
redis.call('ZREM', P..'node:'..nid..':resv', resv)
if not s or tonumber(s) <= NOW then return 'EXPIRED' end
if seat_op(rk, tonumber(ARGV[7]), ARGV[7], 1) then redis.call('HINCRBY', P..'node:'..nid, 'players', 1) end
update_open(rid)
redis.call('SET', uk, '1', 'PX', ARGV[6])
return 'OK'
`)

// ARGV: 3 queue, 4 holder, 5 ttl ms. Returns {fence, exp}.
var scriptAcquire = script(`
local lk = P..'mm:'..ARGV[3]..':lease'
local v = redis.call('HMGET', lk, 'holder', 'fence', 'exp')
local live = v[3] and tonumber(v[3]) > NOW
if live and v[1] ~= ARGV[4] then return 'LOST' end
local fence = v[2]
if not (live and v[1] == ARGV[4]) then fence = redis.call('INCR', P..'mm:'..ARGV[3]..':fence') end
local exp = NOW + tonumber(ARGV[5])
redis.call('HSET', lk, 'holder', ARGV[4], 'fence', fence, 'exp', exp)
redis.call('PEXPIRE', lk, tonumber(ARGV[5]))
return {tonumber(fence), exp}
`)

const luaHolds = `
local function holds(queue, holder, fence)
  local v = redis.call('HMGET', P..'mm:'..queue..':lease', 'holder', 'fence', 'exp')
  return v[1] == holder and v[2] == fence and v[3] and tonumber(v[3]) > NOW
end
`

// ARGV: 3 queue, 4 holder, 5 fence.
var scriptRelease = script(luaHolds + `
if holds(ARGV[3], ARGV[4], ARGV[5]) then redis.call('DEL', P..'mm:'..ARGV[3]..':lease') end
return 'OK'
`)

// ARGV: 3 queue, 4 holder, 5 fence, 6.. ticket ids.
var scriptRemoveTickets = script(luaHolds + `
if not holds(ARGV[3], ARGV[4], ARGV[5]) then return 'LOST' end
for i = 6, #ARGV do redis.call('HDEL', P..'mm:'..ARGV[3]..':tickets', ARGV[i]) end
return 'OK'
`)

// ARGV: 3 queue, 4 holder, 5 fence, 6 new room id, 7 type, 8 max, 9 seats,
// 10 nmeta, meta k v..., nt, ticket ids..., exp, reservation ids...
var scriptCommit = script(luaHolds + `
if not holds(ARGV[3], ARGV[4], ARGV[5]) then return 'LOST' end
local tk = P..'mm:'..ARGV[3]..':tickets'
local rid, typ, max, seats = ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9])
local nm = tonumber(ARGV[10])
local meta = {}
for i = 11, 10 + 2*nm do table.insert(meta, ARGV[i]) end
local ti = 11 + 2*nm
local nt = tonumber(ARGV[ti])
for i = ti + 1, ti + nt do
  if redis.call('HEXISTS', tk, ARGV[i]) == 0 then return {'GONE', ARGV[i]} end
end
local nid, live = place(rid, typ, max, meta, seats)
if nid == nil then
  if live then return 'NOCAP' end
  return 'NONODES'
end
local ei = ti + nt + 1
for i = ei + 1, #ARGV do reserve(rid, nid, ARGV[i], ARGV[ei]) end
update_open(rid)
for i = ti + 1, ti + nt do redis.call('HDEL', tk, ARGV[i]) end
return {'OK', nid, redis.call('HGET', P..'node:'..nid, 'addr') or ''}
`)
