-- wrk script: POST /v1/checks/kinship with request bodies read from a file
-- (one JSON request per line), cycled.
local bodies = {}
local i = 0

init = function(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  i = math.random(#bodies)
end

-- The key of a client with the checks scope, from KINSHIP_KEY (the bare
-- axum endpoint ignores both headers).
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. (os.getenv("KINSHIP_KEY") or ""),
  ["X-Purpose"] = "load-test",
}

request = function()
  i = (i % #bodies) + 1
  return wrk.format("POST", "/v1/checks/kinship", headers, bodies[i])
end
