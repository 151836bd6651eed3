-- :DatabookPreview: a split that shows the full latest result of the cell
-- under the cursor, as the server renders it (`databook/render`), follows
-- the cursor, and redraws when a new result arrives (`databook/output`).

local compat = require("databook.compat")

local M = {}

-- The one preview: its buffer and window, the notebook it follows, and the
-- cell it shows.
local state = { buf = nil, win = nil, source = nil, cell = nil, timer = nil }
local augroup = vim.api.nvim_create_augroup("databook_preview", { clear = true })

local function databook()
  return require("databook")
end

local function is_open()
  return state.win and vim.api.nvim_win_is_valid(state.win) and state.buf and vim.api.nvim_buf_is_valid(state.buf)
end

local function set_lines(lines)
  if not is_open() then
    return
  end
  vim.bo[state.buf].modifiable = true
  vim.api.nvim_buf_set_lines(state.buf, 0, -1, false, lines)
  vim.bo[state.buf].modifiable = false
end

local function split_lines(text)
  local lines = vim.split(text or "", "\n", { plain = true })
  if lines[#lines] == "" then
    table.remove(lines)
  end
  return lines
end

--- The text of a `databook/render` answer.
local function render_lines(result)
  if result == nil or result == vim.NIL then
    return { "(the cursor is not in a cell)" }
  end
  return split_lines(result.text)
end

--- Asks the server to render the cell under the cursor of the notebook's
--- window (or the cell shown, if the notebook is not in a window).
function M.update()
  if not is_open() or not vim.api.nvim_buf_is_valid(state.source) then
    return
  end
  local client = databook().client(state.source)
  if not client then
    set_lines({ "(no databook language server is attached to the notebook)" })
    return
  end
  local params = {
    uri = vim.uri_from_bufnr(state.source),
    width = math.max(40, vim.api.nvim_win_get_width(state.win) - 1),
  }
  local win = vim.fn.bufwinid(state.source)
  if win ~= -1 then
    local line = vim.api.nvim_win_get_cursor(win)[1] - 1
    params.position = { line = line, character = 0 }
  elseif state.cell then
    params.cell = state.cell
  else
    return
  end
  compat.request(client, "databook/render", params, function(err, result)
    if err then
      set_lines({ "databook/render failed: " .. (err.message or vim.inspect(err)) })
      return
    end
    if type(result) == "table" then
      state.cell = result.cell
    end
    set_lines(render_lines(result))
  end, state.source)
end

local function update_later()
  if not state.timer then
    state.timer = vim.loop.new_timer()
  end
  state.timer:stop()
  state.timer:start(databook().config.preview.debounce_ms, 0, vim.schedule_wrap(M.update))
end

--- Called for each `databook/output` notification.
function M.on_output(bufnr, _)
  if is_open() and bufnr == state.source then
    vim.schedule(M.update)
  end
end

--- The preview's buffer, or nil when it is closed.
function M.buffer()
  return is_open() and state.buf or nil
end

--- Opens the preview for notebook `source` (or moves it to that notebook).
function M.open(source)
  if vim.bo[source].filetype ~= "dbk" then
    vim.notify("databook: :DatabookPreview works in a dbk buffer", vim.log.levels.WARN)
    return
  end
  state.source = source
  state.cell = nil
  local from = vim.api.nvim_get_current_win()
  if not is_open() then
    state.buf = vim.api.nvim_create_buf(false, true)
    vim.bo[state.buf].bufhidden = "wipe"
    vim.bo[state.buf].filetype = "databookpreview"
    pcall(vim.api.nvim_buf_set_name, state.buf, "databook://preview")
    local split = databook().config.preview.split == "horizontal" and "belowright split" or "belowright vsplit"
    vim.cmd(split)
    state.win = vim.api.nvim_get_current_win()
    vim.api.nvim_win_set_buf(state.win, state.buf)
    vim.wo[state.win].wrap = false
    vim.wo[state.win].number = false
    vim.wo[state.win].list = false
    vim.api.nvim_set_current_win(from)
  end
  vim.api.nvim_clear_autocmds({ group = augroup })
  vim.api.nvim_create_autocmd({ "CursorMoved", "CursorMovedI" }, {
    group = augroup,
    buffer = source,
    callback = update_later,
  })
  vim.api.nvim_create_autocmd("WinClosed", {
    group = augroup,
    pattern = tostring(state.win),
    callback = function()
      vim.api.nvim_clear_autocmds({ group = augroup })
      state.win, state.buf = nil, nil
    end,
  })
  set_lines({ "(rendering…)" })
  M.update()
end

return M
