-- Databook notebooks: `*.dbk` files get the `dbk` filetype.
vim.api.nvim_create_autocmd({ "BufNewFile", "BufRead" }, {
  pattern = "*.dbk",
  callback = function()
    vim.bo.filetype = "dbk"
  end,
})
