-- wrk script: POST multipart uploads, stop after a fixed number of answers, print JSON.
-- Arguments (after `--`): head_file tail_file content_type limit prebuilt tag owner_key_file
-- The head (form fields, file part headers, image bytes) and tail (closing boundary) are
-- built by bench/multipart.py and read once. With a non-empty tag, every request appends
-- "<tag>-<n>" to the file's bytes, after the image's end marker where decoders stop
-- reading: the pixels stay the same, but the bytes (and so the result id) are new, so
-- each request is a first upload. With an empty tag every request is the same upload.
-- The first `prebuilt` requests are built in init(), before wrk starts its clock, so the
-- client spends its CPU on sending, not on copying megabytes while the server is measured.
-- All uploads belong to the owner of owner_key_file (see wrk_request.lua), so repeats of
-- the same bytes are answered from that owner's stored result.

-- Shared with lookup.lua: response() and done() stop at the limit and print the JSON;
-- read_file() and owner_headers() set up each request.
local folder = debug.getinfo(1, "S").source:match("^@(.*/)") or ""
dofile(folder .. "wrk_limit.lua")
dofile(folder .. "wrk_request.lua")

local head, tail, tag, request_line, fixed_request
local prebuilt = {}
local sent = 0
-- A fixed-width counter keeps Content-Length the same for every request, so the request
-- is built with a single concatenation (bodies are megabytes: copies cost client CPU).
local COUNTER_FORMAT = "-%09d"

function init(args)
  head = read_file(args[1])
  tail = read_file(args[2])
  stop_after(tonumber(args[4]))
  tag = args[6] or ""
  local headers = owner_headers(args[7])
  local body_length = #head + #tail
  if tag ~= "" then
    body_length = body_length + #tag + #string.format(COUNTER_FORMAT, 0)
  end
  request_line = "POST /api/images HTTP/1.1\r\n" ..
    "Host: " .. headers["Host"] .. "\r\n" ..
    "Content-Type: " .. args[3] .. "\r\n" ..
    "Authorization: " .. headers["Authorization"] .. "\r\n" ..
    "Content-Length: " .. body_length .. "\r\n\r\n"
  if tag == "" then
    fixed_request = request_line .. head .. tail
  else
    for n = 1, tonumber(args[5]) do
      prebuilt[n] = unique_request(n)
    end
  end
end

function unique_request(n)
  return table.concat({request_line, head, tag, string.format(COUNTER_FORMAT, n), tail})
end

function request()
  sent = sent + 1
  if fixed_request then
    return fixed_request
  end
  local built = prebuilt[sent]
  if built then
    -- Sent requests are dropped from the table; wrk reads the string before the next call.
    prebuilt[sent] = nil
    return built
  end
  return unique_request(sent)
end
