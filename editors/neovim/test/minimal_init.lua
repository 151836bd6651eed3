-- The init a user would have: the plugin installed as a package (under
-- pack/*/start/ of a 'packpath' folder, made by test/run.sh) and set up with
-- the server built for the tests.
vim.opt.packpath:prepend(assert(os.getenv("DATABOOK_TEST_PACKPATH"), "DATABOOK_TEST_PACKPATH is not set"))
vim.g.mapleader = " "
vim.opt.swapfile = false
vim.opt.shadafile = "NONE"

require("databook").setup({
  cmd = { assert(os.getenv("DATABOOK"), "DATABOOK is not set"), "lsp" },
  -- The echo would be mixed into the test log; the tests read the same
  -- messages from require("databook").status() and last_progress().
  progress = false,
})
