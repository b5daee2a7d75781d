-- A headless Neovim session for tests/test_lsp_nvim.py: start `entrylint lsp`
-- with Neovim's own client, open a file, wait for its diagnostics, hover a
-- line, and write both (JSON) to $ENTRYLINT_NVIM_OUT.  The same setup as the
-- README's Neovim snippet.
local out = assert(os.getenv("ENTRYLINT_NVIM_OUT"))
local file = assert(os.getenv("ENTRYLINT_NVIM_FILE"))
local hover_line = tonumber(os.getenv("ENTRYLINT_NVIM_HOVER_LINE") or "0")
local cmd = vim.split(assert(os.getenv("ENTRYLINT_LSP_CMD")), "\t")

local function finish(result)
  local f = assert(io.open(out, "w"))
  f:write(vim.json.encode(result))
  f:close()
  vim.cmd("qall!")
end

vim.cmd("edit " .. vim.fn.fnameescape(file))
local buf = vim.api.nvim_get_current_buf()
local config = { name = "entrylint", cmd = cmd, root_dir = vim.fn.fnamemodify(file, ":p:h") }
local id
if vim.lsp.start then
  id = vim.lsp.start(config)
else -- Neovim 0.7 (Debian bookworm): no vim.lsp.start yet
  id = vim.lsp.start_client(config)
  if id then vim.lsp.buf_attach_client(buf, id) end
end
if not id then
  finish({ error = "vim.lsp.start failed" })
end

local got = vim.wait(90000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
local diags = {}
for _, d in ipairs(vim.diagnostic.get(buf)) do
  table.insert(diags, { lnum = d.lnum, code = d.code, message = d.message, severity = d.severity,
                        source = d.source })
end

local params = { textDocument = { uri = vim.uri_from_bufnr(buf) },
                 position = { line = hover_line, character = 3 } }
local replies = vim.lsp.buf_request_sync(buf, "textDocument/hover", params, 60000) or {}
local hover = vim.NIL
for _, r in pairs(replies) do
  if r.result and r.result.contents then
    hover = r.result.contents.value or r.result.contents
  end
end
local v = vim.version()
finish({ waited = got, diagnostics = diags, hover = hover, nvim = string.format("%d.%d.%d", v.major, v.minor, v.patch) })
