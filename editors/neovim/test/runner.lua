-- A small test runner for headless Neovim: tests run in order (later ones
-- build on the editor state of earlier ones), each failure is reported with
-- its message, and the last line is `N passed, N failed`.
--
-- The tests run in a coroutine that yields to Neovim's main loop while it
-- waits, so that the editor works as it does for a user meanwhile: typed
-- keys are read and mapped, CursorMoved and TextChanged fire. (A script
-- that blocks in vim.wait() gets LSP messages, but no keys and no such
-- events.)

local R = { tests = {} }

local function out(line)
  io.stdout:write(line .. "\n")
  io.stdout:flush()
end

R.out = out

function R.test(name, fn)
  table.insert(R.tests, { name = name, fn = fn })
end

--- Every wait is bounded: scaled by DATABOOK_TEST_TIMEOUT_SCALE for slow
--- machines.
local scale = tonumber(os.getenv("DATABOOK_TEST_TIMEOUT_SCALE") or "") or 1

--- Gives the main loop `ms` milliseconds.
function R.sleep(ms)
  local co = assert(coroutine.running(), "R.sleep runs in the test coroutine")
  vim.defer_fn(function()
    local ok, err = coroutine.resume(co)
    if not ok then
      out("the test runner failed: " .. tostring(err))
      vim.cmd("cquit 2")
    end
  end, ms)
  coroutine.yield()
end

--- Waits until `cond()` is truthy, at most `ms`; fails naming `what`.
--- Returns what `cond` returned.
function R.wait(ms, what, cond)
  local limit = math.floor(ms * scale)
  local deadline = vim.loop.hrtime() + limit * 1e6
  while true do
    local value = cond()
    if value then
      return value
    end
    if vim.loop.hrtime() > deadline then
      error(string.format("timed out after %d ms waiting for %s", limit, what), 2)
    end
    R.sleep(50)
  end
end

function R.ok(cond, msg)
  if not cond then
    error(msg, 2)
  end
  return cond
end

function R.eq(expected, actual, what)
  if not vim.deep_equal(expected, actual) then
    error(string.format("%s: expected %s, got %s", what, vim.inspect(expected), vim.inspect(actual)), 2)
  end
end

--- Runs every test; returns the number of failures.
function R.run()
  local passed, failed = 0, 0
  out("# " .. vim.trim(vim.fn.execute("version")):match("^[^\n]*"))
  for _, t in ipairs(R.tests) do
    local start = vim.loop.hrtime()
    local ok, err = xpcall(t.fn, debug.traceback)
    local ms = math.floor((vim.loop.hrtime() - start) / 1e6)
    if ok then
      passed = passed + 1
      out(string.format("ok   %s (%d ms)", t.name, ms))
    else
      failed = failed + 1
      out(string.format("FAIL %s (%d ms)", t.name, ms))
      for _, line in ipairs(vim.split(tostring(err), "\n")) do
        out("     " .. line)
      end
    end
  end
  out(string.format("%d passed, %d failed", passed, failed))
  return failed
end

--- Runs the tests once Neovim has started, in the test coroutine, then
--- calls `finish(failures)`.
function R.start(finish)
  vim.schedule(function()
    local co = coroutine.create(function()
      local failed = R.run()
      finish(failed)
    end)
    local ok, err = coroutine.resume(co)
    if not ok then
      out("the test runner failed: " .. tostring(err))
      vim.cmd("cquit 2")
    end
  end)
end

return R
