-- wrk script: the same lookup again and again (GET /api/images/lookup by the file's
-- SHA-256), as the page does before uploading a file it already processed; stops after
-- a fixed number of answers and prints JSON.
-- Arguments (after `--`): path_and_query limit owner_key_file
-- The owner key file names the owner whose result is looked up (see wrk_request.lua).

-- Shared with upload.lua: response() and done() stop at the limit and print the JSON;
-- read_file() and owner_headers() set up each request.
local folder = debug.getinfo(1, "S").source:match("^@(.*/)") or ""
dofile(folder .. "wrk_limit.lua")
dofile(folder .. "wrk_request.lua")

local lookup_request

function init(args)
  stop_after(tonumber(args[2]))
  lookup_request = wrk.format("GET", args[1], owner_headers(args[3]))
end

function request()
  return lookup_request
end
