-- t/bench/echo.lua -- wrk script for the echo request: every request is a
-- POST of the same 64 KiB body (the gen pattern, byte i = (i*31+7) & 0xff).
local size = 64 * 1024
local bytes = {}
for i = 0, size - 1 do
    bytes[#bytes + 1] = string.char((i * 31 + 7) % 256)
end

wrk.method = "POST"
wrk.body = table.concat(bytes)
wrk.headers["Content-Type"] = "application/octet-stream"
