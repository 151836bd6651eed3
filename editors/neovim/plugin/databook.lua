-- Databook's commands, and the language server for `dbk` buffers with the
-- default options when require("databook").setup{} was never called.

if vim.g.loaded_databook then
  return
end
vim.g.loaded_databook = true

local function databook()
  return require("databook")
end

local commands = {
  { "DatabookRun", function() databook().run() end, "Run the cell under the cursor" },
  { "DatabookRunAll", function() databook().run_all() end, "Run every cell" },
  {
    "DatabookClear",
    function(args)
      if args.bang then
        databook().clear_all()
      else
        databook().clear()
      end
    end,
    "Clear the output of the cell under the cursor (with !, every output)",
    true,
  },
  { "DatabookCancel", function() databook().cancel() end, "Stop the runs of this notebook" },
  { "DatabookPreview", function() databook().preview() end, "Open the preview split" },
}

for _, c in ipairs(commands) do
  vim.api.nvim_create_user_command(c[1], c[2], { desc = c[3], bang = c[4] or false })
end

-- :DatabookEnv lists the environments to pick one, :DatabookEnv NAME sets
-- one, :DatabookEnv! goes back to none.
vim.api.nvim_create_user_command("DatabookEnv", function(args)
  if args.bang then
    databook().set_environment(nil)
  elseif args.args ~= "" then
    databook().set_environment(args.args)
  else
    databook().pick_environment()
  end
end, {
  desc = "Pick the environment of later runs (NAME sets it, ! clears it)",
  bang = true,
  nargs = "?",
  complete = function(lead)
    return vim.tbl_filter(function(name)
      return name:sub(1, #lead) == lead
    end, databook().environment_names())
  end,
})

local group = vim.api.nvim_create_augroup("databook_default_setup", { clear = true })

vim.api.nvim_create_autocmd("FileType", {
  group = group,
  pattern = "dbk",
  callback = function(args)
    local m = databook()
    m._last_buf = args.buf
    if not m._did_setup then
      m.setup({})
    end
  end,
})

-- :checkhealth reports on the last notebook entered, since it runs in a
-- buffer of its own.
vim.api.nvim_create_autocmd("BufEnter", {
  group = group,
  callback = function(args)
    if vim.bo[args.buf].filetype == "dbk" then
      databook()._last_buf = args.buf
    end
  end,
})
