-- Argo CD health of a modelfleet.io/LLMDeployment, from the conditions the
-- operator writes (Ready, Progressing, Degraded) and observedGeneration.
-- Written for Argo CD's Lua sandbox: base and table libraries only (no string.*).
local hs = {}

local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function message_of(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

-- Argo CD answers this itself: before running the script up to v3.5, over the
-- script's answer from v3.6 (Progressing, "Pending deletion; blocked by
-- finalizers: ..."). The branch keeps the script right when another tool runs it.
if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Pending deletion"
  return hs
end

if obj.status == nil or obj.status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the LLMDeployment"
  return hs
end

-- Conditions of an older generation describe a spec that is no longer wanted.
if obj.metadata.generation ~= nil and obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. obj.metadata.generation
    .. " (last observed: " .. obj.status.observedGeneration .. ")"
  return hs
end

local degraded = condition("Degraded")
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = message_of(degraded, degraded.reason)
  return hs
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = message_of(ready, "Ready")
  return hs
end

-- spec.replicas 0 is what the user asked for, as for a Deployment scaled to zero; so is a fleet with
-- autoscaling.minReplicas 0 that had no request (Idle: the router wakes it with the next one).
if ready ~= nil and (ready.reason == "ScaledToZero" or ready.reason == "Idle") then
  hs.status = "Healthy"
  hs.message = message_of(ready, "Scaled to zero")
  return hs
end

local progressing = condition("Progressing")
hs.status = "Progressing"
if progressing ~= nil and progressing.status == "True" then
  hs.message = message_of(progressing, progressing.reason)
else
  hs.message = message_of(ready, "Waiting for the replicas to become ready")
end
return hs
