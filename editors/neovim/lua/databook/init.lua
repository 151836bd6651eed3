-- Databook for Neovim: starts `databook lsp` for `dbk` buffers, shows and
-- refreshes its code lenses, runs cells from keys and commands, shows run
-- progress, and keeps a preview split (lua/databook/preview.lua).
--
-- It supports Neovim 0.7 and newer, so every API that changed between
-- versions goes through one of the small helpers in lua/databook/compat.lua.

local compat = require("databook.compat")

local M = {}

local defaults = {
  -- The server's command; the plugin runs `cmd[1]` with `lsp` replaced by
  -- `plugins` or `--version` for :checkhealth.
  cmd = { "databook", "lsp" },
  -- Files that mark a workspace root, searched upwards from the notebook.
  root_markers = { "databook.toml" },
  -- Buffer-local keys in `dbk` buffers; `false` turns them all off, and
  -- `false` for one of them turns that one off.
  keymaps = {
    run = "<leader>r",
    run_all = "<leader>R",
    clear = "<leader>c",
  },
  -- How long to wait after the last edit before asking for new code lenses.
  codelens_debounce_ms = 250,
  -- Start the server for `dbk` buffers; false for setups that start it
  -- themselves with lsp_config().
  autostart = true,
  -- Show `$/progress` of runs in the command line.
  progress = true,
  preview = {
    -- "vertical" (beside the notebook) or "horizontal" (below it).
    split = "vertical",
    -- How long the cursor must rest before the preview follows it.
    debounce_ms = 100,
  },
}

M.config = vim.deepcopy(defaults)
M._did_setup = false

-- The client id of each workspace root, for the start path of Neovim 0.7,
-- which has no vim.lsp.start to reuse clients.
local clients_by_root = {}
-- Per-buffer timers of the debounced code lens refresh.
local lens_timers = {}
-- The latest progress message, for statuslines and the tests.
local progress = { active = {}, last = nil }
-- The last `dbk` buffer entered, for :checkhealth, which runs in a buffer of
-- its own.
M._last_buf = nil
-- What each client's server last said about environments, by client id:
-- `{ current = NAME or nil, environments = { NAMES } }`. environment() reads
-- it without a request, so that a statusline never waits for the server.
local environments = {}

local function notify(msg, level)
  vim.notify("databook: " .. msg, level or vim.log.levels.INFO)
end

--- The workspace root of `bufnr`: the nearest folder upwards that holds one
--- of `root_markers`, else the file's own folder.
function M.root_dir(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == "" then
    return vim.loop.cwd()
  end
  local dir = vim.fn.fnamemodify(name, ":p:h")
  local start = dir
  -- Bounded by the depth of the path: each step goes one folder up, and
  -- the loop stops when the parent is the folder itself.
  for _ = 1, 256 do
    for _, marker in ipairs(M.config.root_markers) do
      if vim.loop.fs_stat(dir .. "/" .. marker) then
        return dir
      end
    end
    local parent = vim.fn.fnamemodify(dir, ":h")
    if parent == dir then
      break
    end
    dir = parent
  end
  return start
end

--- The databook client attached to `bufnr`, if any.
function M.client(bufnr)
  for _, client in ipairs(compat.buf_clients(bufnr or 0)) do
    if client.name == "databook" then
      return client
    end
  end
  return nil
end

function M.status()
  for _, message in pairs(progress.active) do
    return "databook: " .. message
  end
  return ""
end

--- The last progress message seen (`Running hello`, `hello: ok in 3 ms`).
function M.last_progress()
  return progress.last
end

local function show_progress(text)
  progress.last = text
  if M.config.progress then
    vim.schedule(function()
      vim.api.nvim_echo({ { "databook: " .. text } }, false, {})
    end)
  end
end

--- Asks the server for the code lenses of `bufnr` now.
function M.refresh_lenses(bufnr)
  if not vim.api.nvim_buf_is_valid(bufnr) or not M.client(bufnr) then
    return
  end
  compat.codelens_refresh(bufnr)
end

--- Asks for the code lenses of `bufnr` once no edit came for a while.
function M.refresh_lenses_later(bufnr)
  local timer = lens_timers[bufnr]
  if timer then
    timer:stop()
  else
    timer = vim.loop.new_timer()
    lens_timers[bufnr] = timer
  end
  timer:start(
    M.config.codelens_debounce_ms,
    0,
    vim.schedule_wrap(function()
      M.refresh_lenses(bufnr)
    end)
  )
end

-- Handlers that every databook client gets (through its config, so other
-- servers are not touched).
local function handlers()
  local h = {}
  h["$/progress"] = function(err, result, ctx, config)
    local default = vim.lsp.handlers["$/progress"]
    local ret
    if default then
      ret = default(err, result, ctx, config)
    end
    local value = result and result.value
    if type(value) == "table" then
      if value.kind == "begin" then
        progress.active[result.token] = value.title or "running"
        show_progress(value.title or "running")
      elseif value.kind == "report" and value.message then
        progress.active[result.token] = value.message
      elseif value.kind == "end" then
        progress.active[result.token] = nil
        show_progress(value.message or "done")
      end
    end
    return ret
  end
  h["databook/output"] = function(_, result)
    if type(result) ~= "table" or not result.uri then
      return
    end
    local bufnr = vim.uri_to_bufnr(result.uri)
    M.refresh_lenses_later(bufnr)
    require("databook.preview").on_output(bufnr, result)
  end
  -- Neovim skips an edit made for an older version of the buffer but
  -- answers `applied: true` (it only prints "newer than edits"), so the
  -- server would never know that an output block was lost. Refusing such an
  -- edit lets the server compute it again on the newer text, as
  -- docs/lsp-extensions.md describes.
  h["workspace/applyEdit"] = function(err, params, ctx, config)
    local changes = params and params.edit and params.edit.documentChanges
    for _, change in ipairs(type(changes) == "table" and changes or {}) do
      local doc = change.textDocument
      if doc and type(doc.version) == "number" then
        local bufnr = vim.uri_to_bufnr(doc.uri)
        local current = vim.lsp.util.buf_versions[bufnr]
        if type(current) == "number" and current > doc.version then
          return { applied = false, failureReason = "the document changed since version " .. doc.version }
        end
      end
    end
    return vim.lsp.handlers["workspace/applyEdit"](err, params, ctx, config)
  end
  -- Neovim answers `workspace/codeLens/refresh` itself only in some
  -- versions; the server sends it once its plugins are loaded.
  if not vim.lsp.handlers["workspace/codeLens/refresh"] then
    h["workspace/codeLens/refresh"] = function(_, _, ctx)
      for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
        local client = M.client(bufnr)
        if client and client.id == ctx.client_id then
          M.refresh_lenses_later(bufnr)
        end
      end
      return vim.NIL
    end
  end
  return h
end

local function set_keymaps(bufnr)
  local keys = M.config.keymaps
  if not keys then
    return
  end
  local maps = {
    { keys.run, M.run, "Databook: run the cell under the cursor" },
    { keys.run_all, M.run_all, "Databook: run every cell" },
    { keys.clear, M.clear, "Databook: clear the output of the cell under the cursor" },
    { keys.cancel, M.cancel, "Databook: cancel the runs of this notebook" },
    { keys.preview, M.preview, "Databook: open the preview split" },
  }
  for _, map in ipairs(maps) do
    if map[1] then
      vim.keymap.set("n", map[1], function()
        map[2]()
      end, { buffer = bufnr, silent = true, desc = map[3] })
    end
  end
end

local augroup = vim.api.nvim_create_augroup("databook", { clear = true })

local function on_attach(client, bufnr)
  set_keymaps(bufnr)
  vim.api.nvim_clear_autocmds({ group = augroup, buffer = bufnr })
  vim.api.nvim_create_autocmd({ "InsertLeave", "TextChanged", "BufEnter" }, {
    group = augroup,
    buffer = bufnr,
    callback = function()
      M.refresh_lenses_later(bufnr)
    end,
  })
  vim.api.nvim_create_autocmd("BufWipeout", {
    group = augroup,
    buffer = bufnr,
    callback = function()
      if lens_timers[bufnr] then
        lens_timers[bufnr]:stop()
        lens_timers[bufnr]:close()
        lens_timers[bufnr] = nil
      end
    end,
  })
  if M.config.on_attach then
    M.config.on_attach(client, bufnr)
  end
  M.refresh_lenses(bufnr)
  -- Learns the current environment (the server may start with one, from
  -- DATABOOK_ENV) for environment().
  if not environments[client.id] then
    M.environments(bufnr, function() end)
  end
end

--- The client configuration, also for nvim-lspconfig-style setups.
function M.lsp_config()
  return {
    name = "databook",
    cmd = M.config.cmd,
    filetypes = { "dbk" },
    handlers = handlers(),
    on_attach = on_attach,
    capabilities = M.config.capabilities,
    -- Changes go to the server at once: an output edit is computed on the
    -- text the server has, and one made while a change waited in the
    -- editor would be refused and computed again.
    flags = { debounce_text_changes = 0 },
  }
end

local function with_root(config, root)
  config.root_dir = root
  config.workspace_folders = {
    { uri = vim.uri_from_fname(root), name = root },
  }
  return config
end

--- Starts (or reuses) the client of `bufnr`'s workspace root and attaches
--- it, on Neovim versions without vim.lsp.enable.
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if vim.bo[bufnr].buftype ~= "" then
    return
  end
  if compat.has_enable then
    return
  end
  if vim.fn.executable(M.config.cmd[1]) ~= 1 then
    notify(
      "cannot start the language server: `" .. M.config.cmd[1] .. "` is not executable (see :checkhealth databook)",
      vim.log.levels.ERROR
    )
    return
  end
  local root = M.root_dir(bufnr)
  local config = with_root(M.lsp_config(), root)
  if vim.lsp.start then
    vim.lsp.start(config, { bufnr = bufnr })
    return
  end
  -- Neovim 0.7: one client per root, kept here.
  local id = clients_by_root[root]
  local client = id and vim.lsp.get_client_by_id(id)
  if not client or client.is_stopped() then
    id = vim.lsp.start_client(config)
    if not id then
      notify("the language server did not start", vim.log.levels.ERROR)
      return
    end
    clients_by_root[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
end

--- Sets the plugin up; safe to call more than once (the last options win).
function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(defaults), opts or {})
  if opts and opts.keymaps == false then
    M.config.keymaps = false
  end
  M._did_setup = true
  if not M.config.autostart then
    -- Undo an earlier setup's start (vim.lsp.enable(false) also stops
    -- its clients).
    pcall(vim.api.nvim_del_augroup_by_name, "databook_start")
    if compat.has_enable and vim.lsp.is_enabled and vim.lsp.is_enabled("databook") then
      vim.lsp.enable("databook", false)
    end
    return
  end
  if compat.has_enable then
    local config = M.lsp_config()
    config.root_dir = function(bufnr, on_dir)
      on_dir(M.root_dir(bufnr))
    end
    vim.lsp.config("databook", config)
    vim.lsp.enable("databook")
    -- A notebook whose FileType event came before this setup (the one that
    -- triggered it, at startup) is started here; vim.lsp.start reuses the
    -- client that vim.lsp.enable may have started for the same root.
    vim.schedule(function()
      for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
        if vim.api.nvim_buf_is_loaded(bufnr) and vim.bo[bufnr].filetype == "dbk"
          and vim.bo[bufnr].buftype == "" and not M.client(bufnr) then
          vim.lsp.start(with_root(M.lsp_config(), M.root_dir(bufnr)), { bufnr = bufnr })
        end
      end
    end)
  else
    vim.api.nvim_create_autocmd("FileType", {
      group = vim.api.nvim_create_augroup("databook_start", { clear = true }),
      pattern = "dbk",
      callback = function(args)
        M.attach(args.buf)
      end,
    })
    for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(bufnr) and vim.bo[bufnr].filetype == "dbk" then
        M.attach(bufnr)
      end
    end
  end
end

local function current_client(bufnr)
  local client = M.client(bufnr)
  if not client then
    notify("no databook language server is attached to this buffer", vim.log.levels.WARN)
  end
  return client
end

local function execute(client, bufnr, command, arguments, done)
  compat.request(client, "workspace/executeCommand", {
    command = command,
    arguments = arguments,
  }, function(err, result)
    if err then
      notify(command .. " failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    elseif result and type(result.runs) == "table" then
      for _, run in ipairs(result.runs) do
        if run.status == "gone" then
          notify("cell " .. (run.cell + 1) .. " is no longer in the notebook", vim.log.levels.WARN)
        end
      end
    end
    M.refresh_lenses_later(bufnr)
    if done then
      done(err, result)
    end
  end, bufnr)
end

--- Asks the server for the cells of `bufnr` (`databook/cells`) and calls
--- `callback(cell)` with the one under the cursor, or with nil.
function M.cell_under_cursor(bufnr, callback)
  local client = current_client(bufnr)
  if not client then
    return
  end
  local line = vim.api.nvim_win_get_cursor(0)[1] - 1
  local uri = vim.uri_from_bufnr(bufnr)
  compat.request(client, "databook/cells", { uri = uri }, function(err, result)
    if err then
      notify("databook/cells failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    for _, cell in ipairs((result and result.cells) or {}) do
      if cell.range.start.line <= line and line <= cell.range["end"].line then
        -- A range that ends at column 0 of a line stops before that line.
        if not (line == cell.range["end"].line and cell.range["end"].character == 0 and line > cell.range.start.line) then
          return callback(cell, uri, client)
        end
      end
    end
    callback(nil, uri, client)
  end, bufnr)
end

local function on_cell(command)
  local bufnr = vim.api.nvim_get_current_buf()
  M.cell_under_cursor(bufnr, function(cell, uri, client)
    if not cell then
      notify("the cursor is not in a cell", vim.log.levels.WARN)
      return
    end
    execute(client, bufnr, command, { uri, cell.index, cell.header })
  end)
end

--- Runs the cell under the cursor.
function M.run()
  on_cell("databook.run")
end

--- Clears the output of the cell under the cursor.
function M.clear()
  on_cell("databook.clear")
end

--- Executes `command` on the whole current notebook.
local function on_document(command, handler)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = current_client(bufnr)
  if client then
    execute(client, bufnr, command, { vim.uri_from_bufnr(bufnr) }, handler)
  end
end

--- Runs every cell of the current notebook.
function M.run_all()
  on_document("databook.runAll")
end

--- Clears every output of the current notebook.
function M.clear_all()
  on_document("databook.clearAll")
end

--- Stops every run of the current notebook.
function M.cancel()
  on_document("databook.cancel", function(err, result)
    if not err and result then
      notify("cancelled " .. tostring(result.cancelled or 0) .. " run(s)")
    end
  end)
end

-- Environments ([environments.NAME] in databook.toml): the server keeps the
-- current one for its whole workspace, so it is per client, not per buffer.

--- The databook client for the environment commands: the current buffer's,
--- else the last notebook's (the command may be typed in the preview).
local function env_client(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local client = M.client(bufnr)
  if not client and M._last_buf and vim.api.nvim_buf_is_valid(M._last_buf) then
    bufnr = M._last_buf
    client = M.client(bufnr)
  end
  return client, bufnr
end

local function remember(client_id, result)
  if type(result) == "table" then
    environments[client_id] = {
      current = result.current ~= vim.NIL and result.current or nil,
      environments = type(result.environments) == "table" and result.environments or {},
    }
  end
  return environments[client_id]
end

--- The current environment of the notebook's server (the current buffer's,
--- else the last notebook's), or nil when none is chosen or no server is
--- attached. It reads what the server last said, without asking: for a
--- statusline.
function M.environment(bufnr)
  local client = env_client(bufnr)
  local known = client and environments[client.id]
  return known and known.current or nil
end

--- Asks the server for its environments (`databook/environments`) and calls
--- `callback({ current = NAME or nil, environments = { NAMES } })`, or
--- `callback(nil, message)` when it cannot.
function M.environments(bufnr, callback)
  local client, buf = env_client(bufnr)
  if not client then
    return callback(nil, "no databook language server is attached to this buffer")
  end
  compat.request(client, "databook/environments", vim.empty_dict(), function(err, result)
    if err then
      return callback(nil, "databook/environments failed: " .. (err.message or vim.inspect(err)))
    end
    callback(remember(client.id, result))
  end, buf)
end

--- The environment names, asked for synchronously (at most a second), for
--- the completion of :DatabookEnv; what is known already if the server is
--- slow.
function M.environment_names()
  local client, buf = env_client()
  if not client then
    return {}
  end
  local response = compat.request_sync(client, "databook/environments", vim.empty_dict(), 1000, buf)
  if response and not response.err and response.result then
    remember(client.id, response.result)
  end
  local known = environments[client.id]
  return known and vim.deepcopy(known.environments) or {}
end

--- Makes `name` the current environment of the notebook's server (nil: none,
--- `[env]` alone). The server refuses a name the workspace does not define,
--- with a message that suggests the closest; that message is shown.
--- `done(err, result)` is called after, if given.
function M.set_environment(name, done)
  local client, bufnr = env_client()
  if not client then
    notify("no databook language server is attached to this buffer", vim.log.levels.WARN)
    return
  end
  local argument = name
  if name == nil then
    argument = vim.NIL
  end
  compat.request(client, "workspace/executeCommand", {
    command = "databook.setEnvironment",
    arguments = { argument },
  }, function(err, result)
    if err then
      notify(err.message or vim.inspect(err), vim.log.levels.ERROR)
    else
      local known = remember(client.id, result)
      local current = known and known.current
      notify(current and ("environment " .. current) or "no environment ([env] alone)")
      M.refresh_lenses_later(bufnr)
    end
    if done then
      done(err, result)
    end
  end, bufnr)
end

local NONE = "(none)"

--- Lists the environments (vim.ui.select, which UI plugins may replace),
--- marking the current one, and makes the chosen one current.
function M.pick_environment()
  M.environments(0, function(result, message)
    if not result then
      notify(message, vim.log.levels.WARN)
      return
    end
    local items = { NONE }
    vim.list_extend(items, result.environments)
    local function format(item)
      local current = (item == NONE and result.current == nil) or item == result.current
      return item .. (current and "  (current)" or "")
    end
    local function chosen(item)
      if item == nil then
        return
      end
      M.set_environment(item ~= NONE and item or nil)
    end
    vim.ui.select(items, { prompt = "Databook environment:", format_item = format, kind = "databook.environment" }, chosen)
  end)
end

--- Opens the preview split for the current notebook.
function M.preview()
  require("databook.preview").open(vim.api.nvim_get_current_buf())
end

return M
