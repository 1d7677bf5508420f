-- wrk script: the same lookup again and again (GET /api/images/lookup by the file's
-- SHA-256), as the page does before uploading a file it already processed; stops after
-- a fixed number of answers and prints JSON.
-- Arguments (after `--`): path_and_query limit owner_key_file
-- The owner key is read from a file (never an argument, so it never shows in the process
-- list) and sent as `Authorization: Bearer`, the owner whose result is looked up.

-- response() and done(), shared with upload.lua, stop at the limit and print the JSON.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "wrk_limit.lua")

local lookup_request

local function slurp(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  return data
end

function init(args)
  stop_after(tonumber(args[2]))
  lookup_request = wrk.format("GET", args[1], {
    ["Host"] = wrk.host .. ":" .. wrk.port,
    ["Authorization"] = "Bearer " .. slurp(args[3]),
  })
end

function request()
  return lookup_request
end
