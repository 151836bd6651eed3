-- The APIs that differ between Neovim 0.7 and today, each behind one helper,
-- so that the rest of the plugin reads the same on every version.

local M = {}

local function has(version)
  return vim.fn.has("nvim-" .. version) == 1
end

-- vim.lsp.config/vim.lsp.enable (0.11+) start clients by filetype.
M.has_enable = has("0.11") and type(vim.lsp.enable) == "function" and vim.lsp.config ~= nil

--- The clients attached to `bufnr`, as a list.
function M.buf_clients(bufnr)
  if bufnr == 0 then
    bufnr = vim.api.nvim_get_current_buf()
  end
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ bufnr = bufnr })
  end
  if has("0.8") then
    return vim.lsp.get_active_clients({ bufnr = bufnr })
  end
  local list = {}
  for _, client in pairs(vim.lsp.buf_get_clients(bufnr)) do
    table.insert(list, client)
  end
  return list
end

--- `client:request(...)`: a method from 0.11 on, a field before.
function M.request(client, method, params, handler, bufnr)
  if has("0.11") then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

--- Synchronous request, with a timeout in milliseconds.
function M.request_sync(client, method, params, timeout, bufnr)
  if has("0.11") then
    return client:request_sync(method, params, timeout, bufnr)
  end
  return client.request_sync(method, params, timeout, bufnr)
end

--- Asks for the code lenses of `bufnr` (0.7 to 0.9 refresh only the
--- current buffer).
function M.codelens_refresh(bufnr)
  if has("0.10") then
    vim.lsp.codelens.refresh({ bufnr = bufnr })
  else
    vim.api.nvim_buf_call(bufnr, function()
      vim.lsp.codelens.refresh()
    end)
  end
end

--- The health report functions: vim.health (0.10+; 0.8 and 0.9 have it
--- with report_* names), else the `health` module of 0.7.
function M.health()
  local h = vim.health
  if h and h.start then
    return { start = h.start, ok = h.ok, warn = h.warn, error = h.error, info = h.info }
  end
  h = h or require("health")
  return {
    start = h.report_start,
    ok = h.report_ok,
    warn = h.report_warn,
    error = h.report_error,
    info = h.report_info,
  }
end

return M
