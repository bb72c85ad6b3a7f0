"""The Lua scripts of the shared limiter (``core.guards.redis_limits``), each run atomically by Redis.

Times are seconds: Redis ``TIME`` unless the caller passes one (tests on a fake clock). A bucket is
a hash {level, t, cap}: ``cap`` only when the server's headers set a lower capacity than ours.
"""

# Shared by every script: a bucket hash's level after refill, on the configured or server capacity.
_REFILL = """
local function bucket(key, cap, now)
  local h = redis.call('HMGET', key, 'level', 't', 'cap')
  local srv = tonumber(h[3])
  if srv and (cap < 0 or srv < cap) then cap = srv end
  if cap <= 0 then return nil, cap end
  local level = tonumber(h[1]) or cap
  local t = tonumber(h[2]) or now
  if now > t then level = math.min(cap, level + (now - t) * cap / 60) end
  return level, cap
end
local function store(key, level, cap, now)
  redis.call('HSET', key, 'level', tostring(level), 't', tostring(now))
  -- an idle bucket that has refilled is the same as no key: let Redis forget it then
  redis.call('EXPIRE', key, math.ceil((cap - level) * 60 / cap) + 60)
end
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

# KEYS: nb bucket hashes, then nc slot sets. ARGV: nb, nc, now ('' = Redis TIME), slot id, lease (s),
# then (capacity or -1 = only a server-reported one, amount) per bucket, then a limit per slot set.
ACQUIRE = _REFILL + """
local nb, nc, now = tonumber(ARGV[1]), tonumber(ARGV[2]), clock(ARGV[3])
local lease = tonumber(ARGV[5])
local wait, binding, busy = 0, 0, 0
local levels, caps = {}, {}
for i = 1, nb do
  local amount = tonumber(ARGV[5 + 2 * i])
  local level, cap = bucket(KEYS[i], tonumber(ARGV[4 + 2 * i]), now)
  if level then
    if amount > cap + 1e-6 then return {'never', tostring(i), tostring(cap)} end
    levels[i], caps[i] = level, cap
    local missing = amount - level
    if missing > 1e-6 then
      local w = missing * 60 / cap
      if w > wait then wait, binding = w, i end
    end
  end
end
for j = 1, nc do
  local key = KEYS[nb + j]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if busy == 0 and redis.call('ZCARD', key) >= tonumber(ARGV[5 + 2 * nb + j]) then busy = j end
end
if binding > 0 or busy > 0 then return {'wait', tostring(binding), tostring(wait), tostring(busy)} end
for i = 1, nb do
  if levels[i] then store(KEYS[i], levels[i] - tonumber(ARGV[5 + 2 * i]), caps[i], now) end
end
for j = 1, nc do
  redis.call('ZADD', KEYS[nb + j], now + lease, ARGV[4])
  redis.call('EXPIRE', KEYS[nb + j], math.ceil(lease) + 60)
end
return {'ok'}
"""

# KEYS: nb bucket hashes, then slot sets to free. ARGV: now, nb, slot id (or ''), then (capacity or -1,
# delta) per bucket: > 0 takes, < 0 gives back. Settling and releasing together cost one round trip.
SETTLE = _REFILL + """
local now, nb = clock(ARGV[1]), tonumber(ARGV[2])
for i = 1, nb do
  local delta = tonumber(ARGV[3 + 2 * i])
  local level, cap = bucket(KEYS[i], tonumber(ARGV[2 + 2 * i]), now)
  if level and delta ~= 0 then store(KEYS[i], math.min(cap, level - delta), cap, now) end
end
for j = nb + 1, #KEYS do redis.call('ZREM', KEYS[j], ARGV[3]) end
return 1
"""

# KEYS: global bucket hashes. ARGV: now, then (capacity or -1, server limit or -1, remaining or -1).
TIGHTEN = _REFILL + """
local now = clock(ARGV[1])
for i = 1, #KEYS do
  local cfg, limit, remaining = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  local _, known = bucket(KEYS[i], cfg, now)
  if limit >= 1 and (known <= 0 or limit < known) then redis.call('HSET', KEYS[i], 'cap', tostring(limit)) end
  local level, cap = bucket(KEYS[i], cfg, now)
  if level then
    if remaining >= 0 and remaining < level then level = remaining end
    store(KEYS[i], level, cap, now)
  end
end
return 1
"""

# KEYS: slot sets. ARGV: now, lease, then slot ids: each renewed only where it still holds (XX).
RENEW = _REFILL + """
local now, lease = clock(ARGV[1]), tonumber(ARGV[2])
for i = 1, #KEYS do
  for a = 3, #ARGV do redis.call('ZADD', KEYS[i], 'XX', now + lease, ARGV[a]) end
end
return 1
"""
