-- Shared by the bench's wrk scripts: what every request they send carries. wrk runs a
-- script with luaL_dofile after luaL_openlibs and puts nothing on package.path (wg/wrk
-- src/script.c, script_create), so the scripts load this file from their own folder with
-- dofile, as they load wrk_limit.lua.

function read_file(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  return data
end

-- Host and Authorization for every request. The owner key is read from a file (never an
-- argument, so it never shows in the process list) and sent as `Authorization: Bearer`:
-- every request is the same owner's, whose stored results repeats and lookups find.
function owner_headers(owner_key_file)
  return {
    ["Host"] = wrk.host .. ":" .. wrk.port,
    ["Authorization"] = "Bearer " .. read_file(owner_key_file),
  }
end
