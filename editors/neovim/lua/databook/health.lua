-- :checkhealth databook: the binary and its version, the server attached to
-- the notebook, and the plugins it loads, with the errors of those that
-- failed (from `databook plugins`, run in the notebook's workspace root).

local compat = require("databook.compat")

local M = {}

-- How long the binary may take to answer `--version` or `plugins`.
local TIMEOUT_MS = 30000

--- Runs `argv` in `cwd`; returns its exit code and output lines, or nil and
--- a reason.
local function run(argv, cwd)
  local out = {}
  local collect = function(_, data)
    for _, line in ipairs(data or {}) do
      table.insert(out, line)
    end
  end
  local ok, job = pcall(vim.fn.jobstart, argv, {
    cwd = cwd,
    stdout_buffered = true,
    stderr_buffered = true,
    on_stdout = collect,
    on_stderr = collect,
  })
  if not ok or job <= 0 then
    return nil, "could not start " .. table.concat(argv, " ")
  end
  local code = vim.fn.jobwait({ job }, TIMEOUT_MS)[1]
  if code == -1 then
    vim.fn.jobstop(job)
    return nil, table.concat(argv, " ") .. " did not finish in " .. TIMEOUT_MS / 1000 .. " s"
  end
  while out[#out] == "" do
    table.remove(out)
  end
  return code, out
end

--- `cmd` with its `lsp` argument replaced by `args` (so that options such
--- as `--plugins DIR` are kept).
local function command_with(cmd, args)
  local argv = {}
  local replaced = false
  for _, arg in ipairs(cmd) do
    if arg == "lsp" and not replaced then
      vim.list_extend(argv, args)
      replaced = true
    elseif arg ~= "--stdio" then
      table.insert(argv, arg)
    end
  end
  if not replaced then
    argv = { cmd[1] }
    vim.list_extend(argv, args)
  end
  return argv
end

--- The notebook to report on: the current buffer if it is one, else the
--- last notebook entered (:checkhealth opens a buffer of its own).
local function notebook()
  local current = vim.api.nvim_get_current_buf()
  if vim.bo[current].filetype == "dbk" then
    return current
  end
  local last = require("databook")._last_buf
  if last and vim.api.nvim_buf_is_valid(last) and vim.bo[last].filetype == "dbk" then
    return last
  end
  return nil
end

--- Reports each entry of `databook plugins`: blocks separated by blank
--- lines, the first line `NAME VERSION  DESCRIPTION` or `NAME  FAILED TO
--- LOAD`, then `  key: value` lines.
local function report_plugins(h, lines)
  local blocks, block = {}, nil
  for _, line in ipairs(lines) do
    if line == "" then
      block = nil
    else
      if not block then
        block = {}
        table.insert(blocks, block)
      end
      table.insert(block, line)
    end
  end
  if #blocks == 0 then
    h.warn("`databook plugins` lists no plugin")
  end
  for _, b in ipairs(blocks) do
    local head = b[1]
    local fields = {}
    for i = 2, #b do
      local key, value = b[i]:match("^%s*(%w+):%s*(.*)$")
      if key then
        fields[key] = value
      end
    end
    if head:find("FAILED TO LOAD", 1, true) then
      local name = vim.trim((head:gsub("FAILED TO LOAD", "")))
      h.error(
        "plugin " .. name .. " failed to load: " .. (fields.error or "(no error given)"),
        { "from " .. (fields.from or "?") }
      )
    else
      local name, rest = head:match("^(%S+ %S+)%s+(.*)$")
      h.ok(string.format("plugin %s: %s (%s)", name or head, rest or "", fields.from or "?"))
    end
  end
end

function M.check()
  local h = compat.health()
  local databook = require("databook")
  local cmd = databook.config.cmd

  h.start("databook: the binary")
  local path = vim.fn.exepath(cmd[1])
  local binary_ok = path ~= ""
  if not binary_ok then
    h.error("`" .. cmd[1] .. "` is not executable (the `cmd` option of require('databook').setup{})", {
      "Install databook and put it on PATH, or set cmd = { '/path/to/databook', 'lsp' }.",
    })
  else
    local code, out = run({ path, "--version" })
    if code == 0 then
      local version = vim.tbl_filter(function(line)
        return line ~= ""
      end, out)
      h.ok("found " .. path .. ", version: " .. table.concat(version, " "))
    else
      h.error("found " .. path .. ", but `--version` failed: " .. table.concat(out or {}, " "))
    end
  end

  h.start("databook: the language server")
  local bufnr = notebook()
  local root
  if not bufnr then
    h.warn("no dbk buffer is open: open a notebook, then run :checkhealth databook again")
  else
    local name = vim.api.nvim_buf_get_name(bufnr)
    local client = databook.client(bufnr)
    root = databook.root_dir(bufnr)
    if client then
      local info = client.server_info
      local version = info and info.version and (" " .. info.version) or ""
      h.ok(
        string.format(
          "the server is attached to %s (client %d, `%s`%s, root %s)",
          vim.fn.fnamemodify(name, ":~:."),
          client.id,
          table.concat(client.config.cmd or cmd, " "),
          version,
          client.config.root_dir or root
        )
      )
    else
      h.error("no databook language server is attached to " .. name, {
        "Check that the buffer's filetype is dbk (:set ft?) and see :LspLog.",
      })
    end
  end

  h.start("databook: plugins (from `databook plugins`)")
  if not binary_ok then
    h.warn("skipped: no databook binary")
    return
  end
  local cwd = root or vim.loop.cwd()
  local code, out = run(command_with(cmd, { "plugins" }), cwd)
  if code == nil then
    h.error(out)
  elseif code ~= 0 then
    h.error("`databook plugins` failed in " .. cwd .. " (exit " .. code .. ")", out)
  else
    h.info("run in " .. cwd)
    report_plugins(h, out)
  end
end

return M
