-- Argo CD health of a Plattr Application (plattr.dev/v1alpha1), from the
-- conditions the operator reports: Healthy when Ready is True for the current
-- generation, Degraded when Stalled (a person must change something),
-- Progressing otherwise. While the release phase runs or after it failed, its
-- message is the one shown.
local hs = { status = "Progressing", message = "Waiting for the Plattr operator" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
if obj.status.observedGeneration == nil or obj.status.observedGeneration < obj.metadata.generation then
  hs.message = "The Plattr operator has not seen the latest spec yet"
  return hs
end
local release = nil
local releaseStalled = false
for _, c in ipairs(obj.status.conditions) do
  if c.type == "ReleaseReady" and c.status ~= "True" then
    release = "Release phase: " .. c.message
    releaseStalled = c.reason == "ReleaseFailed" or c.reason == "ReleaseConflict"
  end
end
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Stalled" and c.status == "True" then
    hs.status = "Degraded"
    if releaseStalled then
      hs.message = release
    else
      hs.message = c.message
    end
    return hs
  end
end
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then
    if c.status == "True" then
      hs.status = "Healthy"
    end
    hs.message = release or c.message
    return hs
  end
end
return hs
