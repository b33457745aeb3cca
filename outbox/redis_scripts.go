package outbox

import "github.com/redis/go-redis/v9"

// The Lua scripts below keep RedisStore's indexes consistent: every state
// change of a job happens in one script, which Redis runs atomically, so
// two sidecars never see a half-made change. KEYS[1] is always the key
// prefix with its hash tag ("{holdline:outbox}"); every key a script
// touches starts with it, so on Redis Cluster they all hash to one slot.
//
// Layout (P is the prefix, ids are 26-character ULIDs):
//
//	P:job:<id>          HASH  the job: kd kind, p dependency, k interaction,
//	                          i idempotency key, pl payload, s state,
//	                          a attempts, n next attempt (ns), t next attempt
//	                          (µs, the ready score), c created (ns),
//	                          u updated (ns), f first failed (ns or ""),
//	                          e last error, r result, tok claim token,
//	                          o owner consumer, rq tp ts the origin's request
//	                          id and trace context (e, r, tok, o, rq, tp, ts
//	                          may be absent: read as empty)
//	P:all               ZSET  every id (score 0: lexical = ID order)
//	P:state:<state>     ZSET  ids per state
//	P:ix:<interaction>  ZSET  ids of one interaction
//	P:ready:<dep>       ZSET  claimable interaction heads, score = due µs
//	P:deps              SET   dependencies that have a ready set
//	P:idem              HASH  idempotency key -> id
//	P:seq               HASH  ms, n: the last id issued (monotonic ids)
//	P:run               STREAM one entry per claimed run (field job = id);
//	                          the consumer group's PEL is the lease table
//
// Times are nanoseconds since the epoch as 20-digit zero-padded decimal
// strings, so Lua compares them as strings without losing precision.

const luaCommon = `
local P = KEYS[1]
local RUN = P .. ':run'
local function jkey(id) return P .. ':job:' .. id end
local function now()
  local t = redis.call('TIME')
  local us = tonumber(t[1]) * 1000000 + tonumber(t[2])
  return string.format('%011d%06d000', tonumber(t[1]), tonumber(t[2])), string.format('%.0f', us)
end
local function setstate(id, old, new)
  if old ~= new then
    if old and old ~= '' then redis.call('ZREM', P .. ':state:' .. old, id) end
    redis.call('ZADD', P .. ':state:' .. new, 0, id)
    redis.call('HSET', jkey(id), 's', new)
  end
end
local function claimable(s) return s == 'pending' or s == 'held' end
local function unready(id, dep) redis.call('ZREM', P .. ':ready:' .. dep, id) end
local function ready(id, dep, t)
  redis.call('ZADD', P .. ':ready:' .. dep, t, id)
  redis.call('SADD', P .. ':deps', dep)
end
-- refresh puts the head of an interaction in its ready set if it may be
-- claimed (pending, nothing of the interaction inflight) and takes every
-- other job of the interaction out. A job without an interaction (iid
-- empty) is its own head.
local function refresh(iid, id)
  if iid == '' then
    local f = redis.call('HMGET', jkey(id), 's', 'p', 't')
    if claimable(f[1]) then ready(id, f[2], f[3]) elseif f[1] then unready(id, f[2]) end
    return
  end
  local head, hs, hdep, ht, busy = nil, nil, nil, nil, false
  for _, m in ipairs(redis.call('ZRANGE', P .. ':ix:' .. iid, 0, -1)) do
    local f = redis.call('HMGET', jkey(m), 's', 'p', 't')
    if f[1] == 'inflight' then busy = true end
    if head == nil and f[1] ~= 'done' then
      head, hs, hdep, ht = m, f[1], f[2], f[3]
    else
      unready(m, f[2])
    end
  end
  if head then
    if claimable(hs) and not busy then ready(head, hdep, ht) else unready(head, hdep) end
  end
end
local function reply(id) return {id, redis.call('HGETALL', jkey(id))} end
-- release ends a run: the stream entry is acknowledged and deleted.
local function release(group, entry)
  if entry and entry ~= '' then
    redis.call('XACK', RUN, group, entry)
    redis.call('XDEL', RUN, entry)
  end
end
-- recover makes the job of a run pending again if that run still holds
-- it, and ends the run either way. It returns 1 if the job moved.
local function recover(group, entry, id)
  release(group, entry)
  if not id then return 0 end
  local k = jkey(id)
  local f = redis.call('HMGET', k, 's', 'tok', 'k')
  if f[1] ~= 'inflight' or f[2] ~= entry then return 0 end
  local ns, us = now()
  setstate(id, 'inflight', 'pending')
  redis.call('HSET', k, 'n', ns, 't', us, 'u', ns, 'tok', '', 'o', '')
  refresh(f[3], id)
  return 1
end
local function entryjob(fields)
  if not fields then return nil end
  for i = 1, #fields, 2 do if fields[i] == 'job' then return fields[i + 1] end end
  return nil
end
`

// scriptEnqueue stores a batch of jobs (group commit: see
// redis_enqueue.go). ARGV holds 10 values per job: idem, kind, dep, iid,
// payload, next_ns (empty: now), next_us, request_id, traceparent,
// tracestate (the job's Origin). Returns {created_ns, per job in order:
// {1, id} for a new job (its fields are the ones given, created and
// updated at created_ns) or {0, reply} for the job that already holds
// the idempotency key}.
//
// It writes the layout above and nothing else, so jobs it stores are the
// same as the ones earlier versions stored, and sidecars of both versions
// can share one Redis during a rolling upgrade. It costs fewer calls per
// job than storing jobs one by one: the clock, the id sequence, the
// idempotency keys and the all, state and ready indexes are read and
// written once per batch; per job it writes the hash and, for a job with
// an interaction, reads and extends that interaction's index (the new job
// is claimable only if every earlier job of its interaction is done), and
// it does not read back what it wrote. It leaves out the fields that
// every reader takes as empty when absent (e, r, tok, o, and rq, tp, ts
// when empty), which earlier versions stored empty: each field costs
// Redis time on every enqueue.
var scriptEnqueue = redis.NewScript(luaCommon + `
local n = #ARGV / 10
local found, keys = {}, {}
for i = 0, n - 1 do
  local idem = ARGV[i * 10 + 1]
  if idem ~= '' then table.insert(keys, idem) end
end
if #keys > 0 then
  local v = redis.call('HMGET', P .. ':idem', unpack(keys))
  for i, k in ipairs(keys) do if v[i] then found[k] = v[i] end end
end
local ns, us = now()
local ms = math.floor(tonumber(us) / 1000)
local seq = redis.call('HMGET', P .. ':seq', 'ms', 'n')
local nextn = 0
if seq[1] and tonumber(seq[1]) >= ms then
  ms = tonumber(seq[1])
  nextn = tonumber(seq[2]) + 1
end
local A = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
local function enc(v, width)
  local s = ''
  for _ = 1, width do
    local d = v % 32
    s = string.sub(A, d + 1, d + 1) .. s
    v = math.floor(v / 32)
  end
  return s
end
local prefix, zeros = enc(ms, 10), string.rep('0', 12)
local origin = {'rq', 'tp', 'ts'}
local out = {ns}
local all, pend, idems, readyby, deps, inbatch = {}, {}, {}, {}, {}, {}
for i = 0, n - 1 do
  local b = i * 10
  local idem, kind, dep, iid, payload, nxt, nt = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7]
  local have = idem ~= '' and found[idem]
  if have then
    table.insert(out, {0, reply(have)})
  else
    local id
    if nextn < 1048576 then id = prefix .. zeros .. enc(nextn, 4) else id = prefix .. enc(nextn, 16) end
    nextn = nextn + 1
    if nxt == '' then nxt, nt = ns, us end
    local h = {'kd', kind, 'p', dep, 'k', iid, 'i', idem, 'pl', payload,
      's', 'pending', 'a', 0, 'n', nxt, 't', nt, 'c', ns, 'u', ns, 'f', ''}
    for o, f in ipairs(origin) do
      local v = ARGV[b + 7 + o]
      if v ~= '' then
        table.insert(h, f)
        table.insert(h, v)
      end
    end
    redis.call('HSET', jkey(id), unpack(h))
    table.insert(all, 0)
    table.insert(all, id)
    if idem ~= '' then
      found[idem] = id
      table.insert(idems, idem)
      table.insert(idems, id)
    end
    local behind = false
    if iid ~= '' then
      local ix = P .. ':ix:' .. iid
      if inbatch[iid] then
        behind = true
      else
        for _, m in ipairs(redis.call('ZRANGE', ix, 0, -1)) do
          if redis.call('HGET', jkey(m), 's') ~= 'done' then
            behind = true
            break
          end
        end
        inbatch[iid] = true
      end
      redis.call('ZADD', ix, 0, id)
    end
    if not behind then
      if not readyby[dep] then
        readyby[dep] = {}
        table.insert(deps, dep)
      end
      table.insert(readyby[dep], nt)
      table.insert(readyby[dep], id)
    end
    table.insert(out, {1, id})
  end
end
if #all > 0 then
  redis.call('HSET', P .. ':seq', 'ms', string.format('%.0f', ms), 'n', string.format('%.0f', nextn - 1))
  redis.call('ZADD', P .. ':all', unpack(all))
  redis.call('ZADD', P .. ':state:pending', unpack(all))
end
if #idems > 0 then redis.call('HSET', P .. ':idem', unpack(idems)) end
for _, dep in ipairs(deps) do
  redis.call('ZADD', P .. ':ready:' .. dep, unpack(readyby[dep]))
end
if #deps > 0 then redis.call('SADD', P .. ':deps', unpack(deps)) end
return out
`)

// scriptClaim: ARGV now_us, now_ns, max, group, consumer, deps...
// Returns the replies of the claimed jobs, earliest due first.
var scriptClaim = redis.NewScript(luaCommon + `
local now_us, now_ns, max, group, consumer = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local cands = {}
for i = 6, #ARGV do
  local dep = ARGV[i]
  local r = redis.call('ZRANGE', P .. ':ready:' .. dep, '-inf', now_us, 'BYSCORE', 'LIMIT', 0, max, 'WITHSCORES')
  for j = 1, #r, 2 do table.insert(cands, {id = r[j], t = tonumber(r[j + 1]), dep = dep}) end
end
table.sort(cands, function(a, b)
  if a.t ~= b.t then return a.t < b.t end
  return a.id < b.id
end)
if #cands == 0 then return {} end
if redis.call('EXISTS', RUN) == 0 then
  redis.call('XGROUP', 'CREATE', RUN, group, '$', 'MKSTREAM')
end
local out = {}
for i = 1, math.min(#cands, max) do
  local c = cands[i]
  local tok = redis.call('XADD', RUN, '*', 'job', c.id)
  unready(c.id, c.dep)
  setstate(c.id, redis.call('HGET', jkey(c.id), 's'), 'inflight')
  redis.call('HSET', jkey(c.id), 'u', now_ns, 'tok', tok, 'o', consumer)
  table.insert(out, reply(c.id))
end
-- Take delivery of the new entries: they enter this consumer's pending
-- entries list, which is what heartbeats refresh and XAUTOCLAIM reaps.
while true do
  local r = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', 1000, 'STREAMS', RUN, '>')
  if not r or #r == 0 or #r[1][2] == 0 then break end
end
return out
`)

// scriptFinish applies an outcome to a job that the caller's run still
// holds. ARGV id, token, group, outcome (done|fail|held|dead), result,
// last error, counted 0|1, retry_ns (” = now), retry_us.
// Returns {'ok', reply} or {'notfound'} or {'notinflight', state}.
var scriptFinish = redis.NewScript(luaCommon + `
local id, tok, group, outcome, result, lasterr, counted, rns, rus = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local k = jkey(id)
local f = redis.call('HMGET', k, 's', 'tok', 'k', 'f')
if not f[1] then return {'notfound'} end
if f[1] ~= 'inflight' or f[2] ~= tok or tok == '' then return {'notinflight', f[1]} end
local ns, us = now()
release(group, tok)
redis.call('HSET', k, 'u', ns, 'tok', '', 'o', '')
if outcome == 'done' then
  redis.call('HSET', k, 'r', result, 'e', '')
  redis.call('HINCRBY', k, 'a', 1)
  setstate(id, 'inflight', 'done')
else
  redis.call('HSET', k, 'e', lasterr)
  if counted == '1' then
    redis.call('HINCRBY', k, 'a', 1)
    if f[4] == '' then redis.call('HSET', k, 'f', ns) end
  end
  if outcome == 'dead' then
    setstate(id, 'inflight', 'dead')
  else
    if rns == '' then rns, rus = ns, us end
    redis.call('HSET', k, 'n', rns, 't', rus)
    if outcome == 'held' then setstate(id, 'inflight', 'held') else setstate(id, 'inflight', 'pending') end
  end
end
refresh(f[3], id)
return {'ok', reply(id)}
`)

// scriptReplay: ARGV id. Returns {'ok', reply}, {'notfound'} or
// {'inflight'}.
var scriptReplay = redis.NewScript(luaCommon + `
local id = ARGV[1]
local k = jkey(id)
local f = redis.call('HMGET', k, 's', 'k')
if not f[1] then return {'notfound'} end
if f[1] == 'inflight' then return {'inflight'} end
local ns, us = now()
setstate(id, f[1], 'pending')
redis.call('HSET', k, 'n', ns, 't', us, 'u', ns, 'a', 0, 'f', '')
refresh(f[2], id)
return {'ok', reply(id)}
`)

// scriptPurge deletes up to ARGV[4] jobs of state ARGV[1] updated before
// ARGV[2] (ns), scanning after id ARGV[3]. Returns {deleted, last scanned
// id, more 0|1}.
var scriptPurge = redis.NewScript(luaCommon + `
local st, older, after, chunk = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local lo = '-'
if after ~= '' then lo = '(' .. after end
local ids = redis.call('ZRANGE', P .. ':state:' .. st, lo, '+', 'BYLEX', 'LIMIT', 0, chunk)
local deleted, last, held = 0, '', {}
for _, id in ipairs(ids) do
  last = id
  local k = jkey(id)
  local f = redis.call('HMGET', k, 'u', 'k', 'i', 'p')
  if f[1] and f[1] < older then
    redis.call('DEL', k)
    redis.call('ZREM', P .. ':all', id)
    redis.call('ZREM', P .. ':state:' .. st, id)
    unready(id, f[4])
    if f[2] ~= '' then
      redis.call('ZREM', P .. ':ix:' .. f[2], id)
      held[f[2]] = id
    end
    if f[3] ~= '' and redis.call('HGET', P .. ':idem', f[3]) == id then
      redis.call('HDEL', P .. ':idem', f[3])
    end
    deleted = deleted + 1
  end
end
if st == 'dead' then
  for iid, id in pairs(held) do refresh(iid, id) end
end
local more = 0
if #ids == chunk then more = 1 end
return {deleted, last, more}
`)

// scriptStats returns {pending, inflight, dead, done, blocked, created
// of the oldest pending job or ”, held}.
var scriptStats = redis.NewScript(luaCommon + `
local function card(s) return redis.call('ZCARD', P .. ':state:' .. s) end
local oldest = ''
local first = redis.call('ZRANGE', P .. ':state:pending', '-', '+', 'BYLEX', 'LIMIT', 0, 1)
if #first > 0 then oldest = redis.call('HGET', jkey(first[1]), 'c') or '' end
local blocked, seen = 0, {}
for _, id in ipairs(redis.call('ZRANGE', P .. ':state:dead', 0, -1)) do
  local iid = redis.call('HGET', jkey(id), 'k')
  if iid and iid ~= '' and not seen[iid] then
    seen[iid] = true
    local held = false
    for _, m in ipairs(redis.call('ZRANGE', P .. ':ix:' .. iid, 0, -1)) do
      local s = redis.call('HGET', jkey(m), 's')
      if s == 'dead' then held = true elseif s == 'pending' and held then blocked = blocked + 1 end
    end
  end
end
return {card('pending'), card('inflight'), card('dead'), card('done'), blocked, oldest, card('held')}
`)

// scriptRecoverOwn ends every run in consumer ARGV[2]'s pending entries
// list and makes their jobs pending. ARGV group, consumer. Returns how
// many jobs moved.
var scriptRecoverOwn = redis.NewScript(luaCommon + `
local group, consumer = ARGV[1], ARGV[2]
if redis.call('EXISTS', RUN) == 0 then return 0 end
local n = 0
while true do
  local pend = redis.call('XPENDING', RUN, group, '-', '+', 500, consumer)
  if #pend == 0 then break end
  for _, p in ipairs(pend) do
    local e = redis.call('XRANGE', RUN, p[1], p[1])
    local id = nil
    if #e > 0 then id = entryjob(e[1][2]) end
    n = n + recover(group, p[1], id)
  end
end
return n
`)

// scriptReap takes over runs idle for at least ARGV[3] ms (their owner
// stopped heartbeating: it is dead or cut off) with XAUTOCLAIM and makes
// their jobs pending. ARGV group, consumer, min idle ms, count. Returns
// how many jobs moved.
var scriptReap = redis.NewScript(luaCommon + `
local group, consumer, idle, count = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', RUN) == 0 then return 0 end
local n, start = 0, '0-0'
for _ = 1, 100 do
  local r = redis.call('XAUTOCLAIM', RUN, group, consumer, idle, start, 'COUNT', count)
  for _, e in ipairs(r[2]) do
    n = n + recover(group, e[1], entryjob(e[2]))
  end
  start = r[1]
  if start == '0-0' then break end
end
return n
`)

// scriptForgetConsumer deletes consumer ARGV[2] from the group if it
// holds no runs. Returns 1 if it did.
var scriptForgetConsumer = redis.NewScript(luaCommon + `
local group, consumer = ARGV[1], ARGV[2]
if #redis.call('XPENDING', RUN, group, '-', '+', 1, consumer) > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', RUN, group, consumer)
return 1
`)
