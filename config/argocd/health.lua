-- Argo CD health check of dbctl.io/Database (README, "GitOps tools"): put this
-- script in argocd-cm as resource.customizations.health.dbctl.io_Database.
--
--   Healthy      status.phase Ready, the Ready condition True, and the status is of
--                the current spec (status.observedGeneration = metadata.generation)
--   Degraded     status.phase Failed: it needs a person (dbctl status NAME says why)
--   Progressing  anything else: no status yet, Pending … Verifying, Updating, or
--                Ready for an older generation of the spec
--
-- The message is the Ready condition's message (a default one while there is no
-- Ready condition yet).
local hs = {status = "Progressing", message = "Waiting for dbctl to reconcile the Database"}
if obj.status == nil then
  return hs
end

local ready = nil
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      ready = c
    end
  end
end
if ready ~= nil and ready.message ~= nil and ready.message ~= "" then
  hs.message = ready.message
end

local phase = obj.status.phase
local observed = obj.status.observedGeneration
if phase == "Failed" then
  hs.status = "Degraded"
elseif phase == "Ready" and ready ~= nil and ready.status == "True" and observed ~= nil and
    observed == obj.metadata.generation then
  hs.status = "Healthy"
end
return hs
