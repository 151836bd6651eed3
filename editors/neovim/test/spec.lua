-- The plugin in a real Neovim: run by test/run.sh as
--   nvim --headless -u test/minimal_init.lua -c "luafile test/spec.lua"
-- on a copy of examples/tour.dbk in a fresh workspace.

local here = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h")
package.path = here .. "/?.lua;" .. package.path
local T = require("runner")
local databook = require("databook")

local repo = vim.fn.fnamemodify(here, ":h:h:h")
local tmp = vim.fn.tempname()
local ws = tmp .. "/ws"
local tour_path = ws .. "/notes/tour.dbk"
local tour -- the notebook's buffer

-- Waits, in ms: the server loads its plugins in the background once it
-- starts; runs of the built-in echo plugin take well under a second.
local START = 30000
local LOAD = 60000
local RUN = 30000

local function write(path, lines)
  vim.fn.mkdir(vim.fn.fnamemodify(path, ":h"), "p")
  vim.fn.writefile(lines, path, "b")
end

local function lines(buf)
  return vim.api.nvim_buf_get_lines(buf or tour, 0, -1, false)
end

--- The 0-based line of the first line equal to `text`, or nil.
local function find_line(text, buf)
  for i, line in ipairs(lines(buf)) do
    if line == text then
      return i - 1
    end
  end
  return nil
end

local function append(new_lines)
  vim.api.nvim_buf_set_lines(tour, -1, -1, false, new_lines)
end

--- Deletes the lines from `first` (0-based) to the end of the buffer.
local function truncate(first)
  vim.api.nvim_buf_set_lines(tour, first, -1, false, {})
end

--- The output block under the cell whose header is `header`: the
--- `@output` line and the `>` lines after it (notebook-format.md), or nil
--- when the cell has none. The body ends at the next directive.
local function output_block(header, buf)
  local all = lines(buf)
  local at = find_line(header, buf)
  if not at then
    return nil
  end
  local i = at + 2
  while i <= #all and not all[i]:match("^@") do
    i = i + 1
  end
  if i > #all or not all[i]:match("^@output") then
    return nil
  end
  local block = { all[i] }
  for j = i + 1, #all do
    if all[j]:sub(1, 1) ~= ">" then
      break
    end
    table.insert(block, all[j])
  end
  return block
end

--- The code lens titles shown on each line (0-based), read from the
--- extmarks Neovim draws them with.
local function shown_lenses(buf)
  local client = databook.client(buf)
  if not client then
    return {}
  end
  local ns = vim.lsp.codelens.__namespaces[client.id]
  local shown = {}
  for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(buf, ns, 0, -1, { details = true })) do
    local text = {}
    for _, chunk in ipairs(mark[4].virt_text or {}) do
      table.insert(text, chunk[1])
    end
    shown[mark[2]] = table.concat(text)
  end
  return shown
end

local function lens_titles_on(line, buf)
  local titles = {}
  for _, lens in ipairs(vim.lsp.codelens.get(buf or tour)) do
    if lens.range.start.line == line and lens.command then
      table.insert(titles, lens.command.title)
    end
  end
  table.sort(titles)
  return titles
end

--- Prints the buffer with its code lenses as Neovim shows them (virtual
--- text at the end of the line), for the README's picture.
local function capture(title, buf, first, last)
  local shown = shown_lenses(buf)
  T.out("     --- " .. title)
  local all = lines(buf)
  for i = first or 1, math.min(last or #all, #all) do
    local lens = shown[i - 1]
    T.out("     " .. all[i] .. (lens and ("  " .. lens) or ""))
  end
end

--- Types `keys` as a user would; the main loop reads them once the test
--- waits.
local function feed(keys)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), "m", false)
end

local function goto_line(line0)
  vim.api.nvim_win_set_cursor(0, { line0 + 1, 0 })
end

T.test("setup: a copy of examples/tour.dbk in a workspace with databook.toml", function()
  write(ws .. "/databook.toml", { "# the test workspace" })
  vim.fn.mkdir(ws .. "/notes", "p")
  T.eq(0, vim.fn.writefile(vim.fn.readfile(repo .. "/examples/tour.dbk", "b"), tour_path, "b"), "copy")
  -- A plugin that cannot load, for :checkhealth to report.
  write(ws .. "/.databook/plugins/broken/plugin.wasm", { "this is not WebAssembly" })
end)

T.test("ftdetect gives *.dbk the dbk filetype; the commands exist", function()
  vim.cmd("edit " .. vim.fn.fnameescape(tour_path))
  tour = vim.api.nvim_get_current_buf()
  T.eq("dbk", vim.bo[tour].filetype, "filetype")
  for _, name in ipairs({ "DatabookRun", "DatabookRunAll", "DatabookClear", "DatabookCancel", "DatabookPreview" }) do
    T.eq(2, vim.fn.exists(":" .. name), ":" .. name .. " exists")
  end
end)

T.test("databook lsp starts for the notebook, rooted at the databook.toml folder", function()
  local client = T.wait(START, "the databook client to attach and initialize", function()
    local c = databook.client(tour)
    return c and c.initialized and c
  end)
  T.eq(ws, client.config.root_dir, "root_dir")
end)

local headers = {}

T.test("code lenses are shown on open: Run all at the top, Run on every cell", function()
  for i, line in ipairs(lines()) do
    if line:match("^@plugin=") then
      table.insert(headers, i - 1)
    end
  end
  T.ok(#headers == 5, "tour.dbk should have 5 cells, found " .. #headers)
  T.wait(START, "a ▶ Run lens shown on every cell header", function()
    local shown = shown_lenses(tour)
    for _, line in ipairs(headers) do
      if not (shown[line] or ""):find("▶ Run", 1, true) then
        return false
      end
    end
    return (shown[0] or ""):find("▶ Run all", 1, true)
  end)
  capture("the notebook on open", tour, headers[1] - 3, headers[1] + 5)
end)

T.test("a misspelled plugin gets a diagnostic; lenses follow the edit", function()
  local first = #lines()
  append({ "", "@plugin=ecoh", "a typo in the plugin's name" })
  local diagnostic = T.wait(LOAD, "a diagnostic naming `ecoh` on line " .. (first + 2), function()
    for _, d in ipairs(vim.diagnostic.get(tour)) do
      if d.lnum == first + 1 and d.message:find("ecoh", 1, true) then
        return d
      end
    end
  end)
  T.ok(diagnostic.message:find("echo", 1, true), "the diagnostic suggests echo: " .. diagnostic.message)
  T.wait(RUN, "a ▶ Run lens on the new cell (lenses refreshed after an edit)", function()
    return (shown_lenses(tour)[first + 1] or ""):find("▶ Run", 1, true)
  end)
  truncate(first)
  T.wait(LOAD, "the diagnostic to go once the cell is deleted", function()
    return #vim.diagnostic.get(tour) == 0
  end)
end)

T.test("completion after @plugin= offers echo", function()
  local first = #lines()
  append({ "", "@plugin=" })
  local client = databook.client(tour)
  local compat = require("databook.compat")
  local response = compat.request_sync(client, "textDocument/completion", {
    textDocument = { uri = vim.uri_from_bufnr(tour) },
    position = { line = first + 1, character = 8 },
  }, RUN, tour)
  T.ok(response and not response.err, "completion failed: " .. vim.inspect(response))
  local result = response.result or {}
  local labels = {}
  for _, item in ipairs(result.items or result) do
    table.insert(labels, item.label)
  end
  T.ok(vim.tbl_contains(labels, "echo"), "echo among the items: " .. vim.inspect(labels))
  T.ok(vim.tbl_contains(labels, "jq"), "jq among the items: " .. vim.inspect(labels))
  truncate(first)
end)

T.test("a cell runs through its code lens; the output block is written", function()
  append({ "", "@plugin=echo name=bylens", "ran by a lens" })
  local header = find_line("@plugin=echo name=bylens")
  -- Only the new cell's lens, carrying its header, and no other lens on the
  -- line, so that codelens.run() runs it without asking which.
  T.wait(RUN, "the ▶ Run lens of the new cell", function()
    local on_line = {}
    for _, lens in ipairs(vim.lsp.codelens.get(tour)) do
      if lens.range.start.line == header then
        table.insert(on_line, lens)
      end
    end
    return #on_line == 1 and on_line[1].command.title == "▶ Run"
      and on_line[1].command.arguments[3] == "@plugin=echo name=bylens"
  end)
  vim.api.nvim_win_set_cursor(0, { header + 1, 0 })
  vim.lsp.codelens.run()
  local block = T.wait(RUN, "the output block of the cell run by its lens", function()
    return output_block("@plugin=echo name=bylens")
  end)
  T.eq({ "@output status=ok mime=text/plain", "> ran by a lens" }, block, "output block")
  T.wait(RUN, "the progress end message of the run", function()
    return (databook.last_progress() or ""):match("^bylens: ok in %d+ ms$")
  end)
  T.wait(RUN, "a ✕ Clear lens once the cell has an output (lenses refreshed after a run)", function()
    return vim.tbl_contains(lens_titles_on(header), "✕ Clear")
  end)
  capture("the notebook after the run", tour, header - 1, header + 6)
end)

T.test("<leader>r runs the cell under the cursor", function()
  append({ "", "@plugin=echo name=bykey", "ran by a key" })
  local body = find_line("ran by a key")
  vim.api.nvim_win_set_cursor(0, { body + 1, 0 })
  feed("<leader>r")
  local block = T.wait(RUN, "the output block of the cell run by <leader>r", function()
    return output_block("@plugin=echo name=bykey")
  end)
  T.eq({ "@output status=ok mime=text/plain", "> ran by a key" }, block, "output block")
  -- The cell run before keeps its output.
  T.eq({ "@output status=ok mime=text/plain", "> ran by a lens" }, output_block("@plugin=echo name=bylens"), "the other output")
end)

T.test("<leader>c clears the output of the cell under the cursor", function()
  local body = find_line("ran by a key")
  vim.api.nvim_win_set_cursor(0, { body + 1, 0 })
  feed("<leader>c")
  T.wait(RUN, "the bykey output block to be removed", function()
    return output_block("@plugin=echo name=bykey") == nil
  end)
  T.ok(output_block("@plugin=echo name=bylens") ~= nil, "the bylens output is still there")
end)

local preview_buf

local function preview_text()
  return table.concat(vim.api.nvim_buf_get_lines(preview_buf, 0, -1, false), "\n")
end

T.test(":DatabookPreview follows the time-series cell and draws its chart once it runs", function()
  local header = find_line("@plugin=echo name=latency mime=application/vnd.databook.timeseries+json")
  T.ok(header, "tour.dbk has the latency cell")
  vim.api.nvim_set_current_win(vim.fn.bufwinid(tour))
  goto_line(header + 1)
  vim.cmd("DatabookPreview")
  preview_buf = T.wait(START, "the preview split", function()
    return require("databook.preview").buffer()
  end)
  T.ok(vim.fn.bufwinid(preview_buf) ~= -1, "the preview is in a window")
  T.ok(vim.api.nvim_get_current_buf() == tour, "the cursor stays in the notebook")
  T.wait(RUN, "the preview to show the latency cell", function()
    return preview_text():find("latency", 1, true)
  end)
  vim.cmd("DatabookRun")
  T.wait(RUN, "the chart's axes (┤ and └) in the preview after the run", function()
    local text = preview_text()
    return text:find("┤", 1, true) and text:find("└", 1, true)
  end)
  local text = preview_text()
  T.ok(text:find("/api", 1, true) and text:find("/metrics", 1, true), "the legend names both series:\n" .. text)
  T.out("     --- the preview split")
  T.out("     " .. text:gsub("\n", "\n     "))
end)

T.test("the preview follows the cursor to another cell and redraws on a new result", function()
  local body = find_line("ran by a key")
  goto_line(body)
  T.wait(RUN, "the preview to show the bykey cell", function()
    return preview_text():find("bykey", 1, true)
  end)
  T.ok(not preview_text():find("┤", 1, true), "the chart is gone from the preview")
  -- A new result for the cell under the cursor redraws the split.
  vim.api.nvim_buf_set_lines(tour, body, body + 1, false, { "a second run" })
  vim.api.nvim_win_set_cursor(vim.fn.bufwinid(tour), { body + 1, 0 })
  vim.cmd("DatabookRun")
  T.wait(RUN, "the preview to show the new result", function()
    return preview_text():find("a second run", 1, true)
  end)
end)

--- The number of output blocks in the notebook.
local function count_outputs()
  local n = 0
  for _, line in ipairs(lines()) do
    if line:match("^@output") then
      n = n + 1
    end
  end
  return n
end

local function count_cells()
  local n = 0
  for _, line in ipairs(lines()) do
    if line:match("^@plugin=") then
      n = n + 1
    end
  end
  return n
end

T.test(":DatabookClear! clears every output; <leader>R runs every cell", function()
  vim.api.nvim_set_current_win(vim.fn.bufwinid(tour))
  T.ok(count_outputs() > 0, "the notebook has outputs before")
  vim.cmd("DatabookClear!")
  T.wait(RUN, "every output block to be removed", function()
    return count_outputs() == 0
  end)
  feed("<leader>R")
  local cells = count_cells()
  local ok = pcall(T.wait, RUN, "", function()
    return count_outputs() == cells
  end)
  T.ok(ok, "timed out waiting for an output block under each of the " .. cells .. " cells; the notebook has "
    .. count_outputs() .. ":\n" .. table.concat(lines(), "\n"))
  T.eq({ "@output status=ok mime=application/json", "> [", '>   "worker"', "> ]" },
    output_block("@plugin=jq input=services"), "the jq cell's output, computed from its input cell")
end)

T.test("an output edit made for an older version of the buffer is refused, not dropped", function()
  local client = databook.client(tour)
  local handler = client.handlers["workspace/applyEdit"]
  T.ok(handler, "the databook client has its own workspace/applyEdit handler")
  local version = vim.lsp.util.buf_versions[tour]
  local function edit(v, text)
    return {
      edit = {
        documentChanges = {
          {
            textDocument = { uri = vim.uri_from_bufnr(tour), version = v },
            edits = { { range = { start = { line = 0, character = 0 }, ["end"] = { line = 0, character = 0 } }, newText = text } },
          },
        },
      },
    }
  end
  local before = lines()[1]
  local answer = handler(nil, edit(version - 1, "stale "), { client_id = client.id, method = "workspace/applyEdit" })
  T.eq(false, answer.applied, "an edit for version " .. (version - 1) .. " when the buffer is at " .. version)
  T.eq(before, lines()[1], "the first line after the refused edit")
  answer = handler(nil, edit(version, "fresh "), { client_id = client.id, method = "workspace/applyEdit" })
  T.eq(true, answer.applied, "an edit for the current version")
  T.eq("fresh " .. before, lines()[1], "the first line after the applied edit")
  vim.api.nvim_buf_set_lines(tour, 0, 1, false, { before })
end)

T.test(":DatabookCancel stops a run in progress", function()
  -- A loopback server that accepts the http plugin's connection and never
  -- answers, so that the run lasts until it is cancelled.
  local held = {}
  local server = vim.loop.new_tcp()
  server:bind("127.0.0.1", 0)
  server:listen(8, function()
    local conn = vim.loop.new_tcp()
    server:accept(conn)
    table.insert(held, conn)
  end)
  local port = server:getsockname().port
  local notes = {}
  local notify = vim.notify
  vim.notify = function(msg, ...)
    table.insert(notes, msg)
    return notify(msg, ...)
  end
  local ok, err = pcall(function()
    append({ "", "@plugin=http name=slow", "GET http://127.0.0.1:" .. port .. "/" })
    vim.api.nvim_win_set_cursor(0, { #lines(), 0 })
    vim.cmd("DatabookRun")
    T.wait(RUN, "the http plugin to connect to the loopback server", function()
      return #held > 0
    end)
    T.ok(databook.status():find("Running slow", 1, true), "the status line shows the run: " .. databook.status())
    vim.cmd("DatabookCancel")
    T.wait(RUN, "the notice that one run was cancelled", function()
      return vim.tbl_contains(notes, "databook: cancelled 1 run(s)")
    end)
    T.ok(output_block("@plugin=http name=slow") == nil, "no output block for the cancelled run")
    T.wait(RUN, "the run's progress to end after the cancel (status: " .. databook.status() .. ")", function()
      return databook.status() == ""
    end)
  end)
  vim.notify = notify
  for _, conn in ipairs(held) do
    conn:close()
  end
  server:close()
  if not ok then
    error(err, 0)
  end
end)

T.test("one client per workspace root", function()
  local first = databook.client(tour)
  local sibling = ws .. "/notes/deeper/other.dbk"
  write(sibling, { "@plugin=echo", "hi" })
  local elsewhere = tmp .. "/elsewhere/alone.dbk"
  write(elsewhere, { "@plugin=echo", "hi" })
  -- The notebook opened after setup{ keymaps = false } gets no keys.
  databook.setup({ cmd = databook.config.cmd, keymaps = false })
  vim.cmd("edit " .. vim.fn.fnameescape(sibling))
  local sib_buf = vim.api.nvim_get_current_buf()
  local c2 = T.wait(START, "a client for the second notebook", function()
    return databook.client(sib_buf)
  end)
  T.eq(first.id, c2.id, "the notebook in the same workspace shares the client")
  vim.cmd("edit " .. vim.fn.fnameescape(elsewhere))
  local alone_buf = vim.api.nvim_get_current_buf()
  local c3 = T.wait(START, "a client for the notebook outside the workspace", function()
    local c = databook.client(alone_buf)
    return c and c.initialized and c
  end)
  T.ok(c3.id ~= first.id, "a notebook outside the workspace gets its own client")
  T.eq(tmp .. "/elsewhere", c3.config.root_dir, "its root is its own folder")
  T.eq({}, vim.fn.maparg(" r", "n", false, true), "no <leader>r with keymaps = false")
  vim.cmd("buffer " .. tour)
  T.eq(1, vim.fn.maparg(" r", "n", false, true).buffer, "<leader>r is still mapped in the first notebook")
  databook.setup({ cmd = databook.config.cmd })
end)

-- Environments: a workspace whose databook.toml layers [environments.NAME]
-- over [env], and a plugin granted TARGET that answers `env TARGET` with
-- the value it sees (plugins/testing/misbehave, as the server's own test
-- server/src/lsp/tests/environments.rs sets it up).
local env_ws = tmp .. "/envws"
local env_buf
local notes_seen = {}

--- Runs `fn` with vim.notify recording its messages in notes_seen.
local function recording_notes(fn)
  local notify = vim.notify
  vim.notify = function(msg, ...)
    table.insert(notes_seen, msg)
    return notify(msg, ...)
  end
  local ok, err = pcall(fn)
  vim.notify = notify
  if not ok then
    error(err, 0)
  end
end

--- Runs the envy cell with :DatabookRun and waits for its output block to
--- be `> VALUE`.
local function run_envy(value)
  vim.api.nvim_set_current_win(vim.fn.bufwinid(env_buf))
  goto_line(1)
  -- The block of the previous run is replaced; waiting for the new value
  -- tells the runs apart.
  vim.cmd("DatabookRun")
  local expected = { "@output status=ok mime=text/plain", "> " .. value }
  local ok = pcall(T.wait, LOAD, "", function()
    return vim.deep_equal(output_block("@plugin=envy name=target", env_buf), expected)
  end)
  T.ok(ok, "timed out waiting for the output block " .. vim.inspect(expected) .. "; the notebook:\n"
    .. table.concat(lines(env_buf), "\n"))
end

T.test(":DatabookEnv is defined; databook/environments lists prod and staging, none current", function()
  write(env_ws .. "/databook.toml", {
    "[env]", 'TARGET = "base"', "",
    "[environments.staging]", 'TARGET = "staging value"', "",
    "[environments.prod]", 'TARGET = "prod value"',
  })
  local dir = env_ws .. "/.databook/plugins/envy"
  vim.fn.mkdir(dir, "p")
  T.eq(0, vim.fn.writefile(vim.fn.readfile(repo .. "/plugins/testing/misbehave/plugin.wasm", "b"), dir .. "/plugin.wasm", "b"), "copy the wasm")
  write(dir .. "/config.toml", {
    'name = "envy"', 'version = "0.1.0"', 'description = "Reads TARGET"', 'api = "0.1"',
    "[permissions]", 'env = ["TARGET"]',
  })
  write(env_ws .. "/notes.dbk", { "@plugin=envy name=target", "env TARGET" })
  T.eq(2, vim.fn.exists(":DatabookEnv"), ":DatabookEnv exists")
  vim.cmd("edit " .. vim.fn.fnameescape(env_ws .. "/notes.dbk"))
  env_buf = vim.api.nvim_get_current_buf()
  local client = T.wait(START, "the databook client of the environments workspace", function()
    local c = databook.client(env_buf)
    return c and c.initialized and c
  end)
  T.eq(env_ws, client.config.root_dir, "root_dir")
  local answer
  databook.environments(env_buf, function(result, message)
    answer = result or message
  end)
  T.wait(RUN, "the answer of databook/environments", function()
    return answer
  end)
  T.eq({ environments = { "prod", "staging" } }, answer, "databook/environments (current: none)")
  T.eq(nil, databook.environment(), "environment() before any is chosen")
end)

T.test(":DatabookEnv completes the names the server lists", function()
  T.eq({ "prod", "staging" }, vim.fn.getcompletion("DatabookEnv ", "cmdline"), "completion of :DatabookEnv ")
  T.eq({ "staging" }, vim.fn.getcompletion("DatabookEnv st", "cmdline"), "completion of :DatabookEnv st")
end)

T.test("a run reads [env]; after :DatabookEnv staging it reads staging's value", function()
  run_envy('Some("base")')
  recording_notes(function()
    vim.cmd("DatabookEnv staging")
    T.wait(RUN, "environment() to be staging after :DatabookEnv staging", function()
      return databook.environment() == "staging"
    end)
    T.ok(vim.tbl_contains(notes_seen, "databook: environment staging"), "the change is announced: " .. vim.inspect(notes_seen))
  end)
  -- The statusline of README.md and :help databook-environments.
  function _G.databook_env()
    local env = require("databook").environment()
    return env and ("env: " .. env) or ""
  end
  local statusline = "%t %{v:lua.databook_env()}"
  T.eq("notes.dbk env: staging", vim.api.nvim_eval_statusline(statusline, {}).str, "the statusline of the docs")
  run_envy('Some("staging value")')
end)

T.test("the preview's first line names the environment of the run", function()
  goto_line(1)
  vim.cmd("DatabookPreview")
  preview_buf = T.wait(START, "the preview split", function()
    return require("databook.preview").buffer()
  end)
  local first = T.wait(RUN, "the preview's first line to name the target cell and environment staging", function()
    local line = vim.api.nvim_buf_get_lines(preview_buf, 0, 1, false)[1] or ""
    return line:match("^target · ok in .* · environment staging$") and line
  end)
  T.out("     --- the preview's first line: " .. first)
  T.ok(preview_text():find('Some("staging value")', 1, true), "the preview shows the value:\n" .. preview_text())
end)

T.test(":DatabookEnv prd shows the server's refusal, which suggests prod, and changes nothing", function()
  vim.api.nvim_set_current_win(vim.fn.bufwinid(env_buf))
  recording_notes(function()
    vim.cmd("DatabookEnv prd")
    T.wait(RUN, "the server's refusal of prd among the notices", function()
      for _, note in ipairs(notes_seen) do
        if note:find('there is no environment "prd" (did you mean "prod"?)', 1, true) then
          return true
        end
      end
    end)
  end)
  local answer
  databook.environments(env_buf, function(result)
    answer = result
  end)
  T.wait(RUN, "the answer of databook/environments", function()
    return answer
  end)
  T.eq("staging", answer.current, "the server's current environment after the refusal")
  T.eq("staging", databook.environment(), "environment() after the refusal")
end)

T.test(":DatabookEnv! goes back to [env] alone", function()
  vim.cmd("DatabookEnv!")
  T.wait(RUN, "environment() to be nil after :DatabookEnv!", function()
    return databook.environment() == nil
  end)
  T.eq("notes.dbk ", vim.api.nvim_eval_statusline("%t %{v:lua.databook_env()}", {}).str, "the statusline without an environment")
  run_envy('Some("base")')
  T.wait(RUN, "the preview's first line to name no environment", function()
    local line = vim.api.nvim_buf_get_lines(preview_buf, 0, 1, false)[1] or ""
    return line:match("^target · ok in ") and not line:find("environment", 1, true)
  end)
end)

T.test(":DatabookEnv without a name lists the environments in vim.ui.select and sets the pick", function()
  -- vim.ui.select is what UI plugins (telescope, dressing, fzf-lua) replace;
  -- this one answers as a user would, and records what it was shown.
  local select = vim.ui.select
  local shown
  local pick
  vim.ui.select = function(items, opts, on_choice)
    shown = {}
    for _, item in ipairs(items) do
      table.insert(shown, opts.format_item and opts.format_item(item) or item)
    end
    on_choice(pick and items[vim.fn.index(items, pick) + 1])
  end
  local ok, err = pcall(function()
    pick = "prod"
    vim.cmd("DatabookEnv")
    T.wait(RUN, "environment() to be prod after picking it", function()
      return databook.environment() == "prod"
    end)
    T.eq({ "(none)  (current)", "prod", "staging" }, shown, "the list shown while none was current")
    run_envy('Some("prod value")')
    pick = "(none)"
    vim.cmd("DatabookEnv")
    T.wait(RUN, "environment() to be nil after picking (none)", function()
      return databook.environment() == nil
    end)
    T.eq({ "(none)", "prod  (current)", "staging" }, shown, "the list shown while prod was current")
    -- Dismissing the list changes nothing.
    pick = nil
    shown = nil
    vim.cmd("DatabookEnv")
    T.wait(RUN, "the list to be shown", function()
      return shown
    end)
    T.eq(nil, databook.environment(), "environment() after dismissing the list")
  end)
  vim.ui.select = select
  if not ok then
    error(err, 0)
  end
  run_envy('Some("base")')
end)

T.test(":DatabookEnv through Neovim's own vim.ui.select: typing 3 picks staging", function()
  -- The built-in vim.ui.select asks with inputlist(), which reads typed
  -- keys; they are typed just before it asks, as a user answers the list.
  local select = vim.ui.select
  local asked
  vim.ui.select = function(items, opts, on_choice)
    asked = true
    vim.api.nvim_feedkeys("3\r", "t", false)
    return select(items, opts, on_choice)
  end
  local ok, err = pcall(function()
    vim.cmd("DatabookEnv")
    T.wait(RUN, "environment() to be staging after typing 3 in the list", function()
      return databook.environment() == "staging"
    end)
  end)
  vim.ui.select = select
  if not ok then
    error(err, 0)
  end
  T.ok(asked, "the list was shown")
  run_envy('Some("staging value")')
  vim.cmd("DatabookEnv!")
  T.wait(RUN, "environment() to be nil after :DatabookEnv!", function()
    return databook.environment() == nil
  end)
end)

T.test(":checkhealth databook reports the binary, the server and the plugins", function()
  vim.cmd("buffer " .. tour)
  vim.cmd("checkhealth databook")
  local buf = vim.api.nvim_get_current_buf()
  T.eq("checkhealth", vim.bo[buf].filetype, "filetype of the health buffer")
  local report = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
  local function has_line(pattern, what)
    for _, line in ipairs(vim.split(report, "\n")) do
      if line:match(pattern) then
        return line
      end
    end
    error("no line for " .. what .. " in the report:\n" .. report, 2)
  end
  has_line("OK.*found .*databook, version: databook %d+%.%d+", "the binary and its version")
  has_line("OK.*the server is attached to .*tour%.dbk", "the server attached")
  has_line("OK.*plugin echo ", "the echo plugin loaded")
  has_line("ERROR.*plugin broken failed to load: .*config%.toml", "the plugin that failed, with its load error")
  for _, line in ipairs(vim.split(report, "\n")) do
    if line:match("ERROR") and not line:match("plugin broken") then
      error("unexpected error in the report: " .. line .. "\n" .. report)
    end
  end
  T.out("     " .. report:gsub("\n", "\n     "))
end)

T.test(":helptags and :help databook", function()
  local doc = vim.api.nvim_get_runtime_file("doc/databook.txt", false)[1]
  T.ok(doc, "doc/databook.txt is on the runtimepath")
  vim.cmd("helptags " .. vim.fn.fnameescape(vim.fn.fnamemodify(doc, ":h")))
  vim.cmd("help databook")
  T.eq("databook.txt", vim.fn.expand("%:t"), "the help file opened")
  T.eq("help", vim.bo.buftype, "buftype")
  T.ok(vim.api.nvim_get_current_line():find("*databook*", 1, true), "the cursor is on the databook tag")
  vim.cmd("help :DatabookPreview")
  T.ok(vim.api.nvim_get_current_line():find("*:DatabookPreview*", 1, true), "the :DatabookPreview tag")
  vim.cmd("help :DatabookEnv")
  T.ok(vim.api.nvim_get_current_line():find("*:DatabookEnv*", 1, true), "the :DatabookEnv tag")
  vim.cmd("help databook.environment()")
  T.ok(vim.api.nvim_get_current_line():find("*databook.environment()*", 1, true), "the databook.environment() tag")
  vim.cmd("close")
end)

T.test("setup{ autostart = false } and lsp_config(), as an nvim-lspconfig-style setup starts it", function()
  databook.setup({ cmd = databook.config.cmd, autostart = false })
  local path = tmp .. "/manual/m.dbk"
  write(path, { "@plugin=echo name=manual", "started by hand" })
  local group = vim.api.nvim_create_augroup("test_manual_start", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = "dbk",
    callback = function(args)
      local config = databook.lsp_config()
      config.root_dir = databook.root_dir(args.buf)
      if vim.lsp.start then
        vim.lsp.start(config)
      else
        -- Neovim 0.7 has no vim.lsp.start.
        vim.lsp.buf_attach_client(args.buf, vim.lsp.start_client(config))
      end
    end,
  })
  vim.cmd("edit " .. vim.fn.fnameescape(path))
  local buf = vim.api.nvim_get_current_buf()
  local client = T.wait(START, "the client started by the user's autocmd", function()
    local c = databook.client(buf)
    return c and c.initialized and c
  end)
  T.eq(tmp .. "/manual", client.config.root_dir, "root_dir")
  T.wait(RUN, "the ▶ Run lens (on_attach asked for the lenses)", function()
    return (shown_lenses(buf)[0] or ""):find("▶ Run", 1, true)
  end)
  T.eq(1, vim.fn.maparg(" r", "n", false, true).buffer, "<leader>r mapped by on_attach")
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  feed("<leader>r")
  T.wait(RUN, "the output block of the cell run in the notebook started by hand", function()
    return output_block("@plugin=echo name=manual", buf)
  end)
  vim.api.nvim_del_augroup_by_name("test_manual_start")
end)

T.start(function(failed)
  local ids = {}
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    for _, client in ipairs(require("databook.compat").buf_clients(buf)) do
      table.insert(ids, client.id)
    end
  end
  vim.lsp.stop_client(ids, true)
  vim.fn.delete(tmp, "rf")
  vim.cmd(failed == 0 and "qall!" or "cquit 1")
end)
