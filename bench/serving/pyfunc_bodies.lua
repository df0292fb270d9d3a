-- wrk script: POST the bodies $BODY_DIR/0.json ... $BODY_DIR/($BODY_COUNT-1).json in turn (each
-- wrk thread starts at its own offset), as JSON, to the URL given to wrk.
local bodies = {}
local i = 0

function init(args)
  local dir, n = os.getenv("BODY_DIR"), tonumber(os.getenv("BODY_COUNT"))
  for k = 0, n - 1 do
    local f = assert(io.open(dir .. "/" .. k .. ".json", "r"))
    bodies[#bodies + 1] = f:read("*a")
    f:close()
  end
  i = math.random(#bodies)
end

function request()
  i = i % #bodies + 1
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, bodies[i])
end
