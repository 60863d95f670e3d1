--[[
loralab's cross-reference filter (pandoc-crossref is not available everywhere, so we keep our own).

In Markdown, `@fig:x`, `@tbl:x` and `@sec:x` parse as citations. This filter numbers the targets
(figures `![..](..){#fig:x}`, tables `: caption {#tbl:x}`, headers `# Title {#sec:x}`) in document
order and replaces each reference:
  - LaTeX: `Figure~\ref{fig:x}` (pandoc's LaTeX writer already emits the matching `\label`);
  - any other format: the text "Figure 1" linking to the target, and captions get "Figure 1: ".
A reference to an id that does not exist stops pandoc with an error naming it.
Other citations in the same brackets are kept as citations.
]]

local PREFIXES = { fig = "Figure", tbl = "Table", sec = "Section" }

local numbers = {} -- id -> number text ("3" or "2.1")
local is_latex = FORMAT:match("latex") ~= nil

local function kind_of(id)
  local prefix = id:match("^(%a+):")
  if prefix and PREFIXES[prefix] then
    return prefix
  end
  return nil
end

local function register(id, text)
  if numbers[id] then
    error("loralab crossref: duplicate label '" .. id .. "'")
  end
  numbers[id] = text
end

-- First pass: number every target in document order.
local function collect(doc)
  local counts = { fig = 0, tbl = 0 }
  local sections = {}
  doc.blocks:walk({
    traverse = "topdown",
    Header = function(h)
      if h.classes:includes("unnumbered") then
        if kind_of(h.identifier) == "sec" then
          register(h.identifier, nil)
        end
        return nil
      end
      sections[h.level] = (sections[h.level] or 0) + 1
      for level = h.level + 1, #sections do
        sections[level] = nil
      end
      local parts = {}
      for level = 1, h.level do
        parts[#parts + 1] = tostring(sections[level] or 0)
      end
      if kind_of(h.identifier) == "sec" then
        register(h.identifier, table.concat(parts, "."))
      end
      return nil
    end,
    Figure = function(f)
      if kind_of(f.identifier) == "fig" then
        counts.fig = counts.fig + 1
        register(f.identifier, tostring(counts.fig))
      end
      return nil
    end,
    Table = function(t)
      if kind_of(t.identifier) == "tbl" then
        counts.tbl = counts.tbl + 1
        register(t.identifier, tostring(counts.tbl))
      end
      return nil
    end,
  })
end

local function reference(id)
  local kind = kind_of(id)
  local number = numbers[id]
  if number == nil then
    error("loralab crossref: unresolved reference @" .. id .. " (no figure, table or section has this id)")
  end
  if is_latex then
    return pandoc.RawInline("latex", PREFIXES[kind] .. "~\\ref{" .. id .. "}")
  end
  return pandoc.Link({ pandoc.Str(PREFIXES[kind]), pandoc.Space(), pandoc.Str(number) }, "#" .. id)
end

local function replace_cite(cite)
  local out = pandoc.Inlines({})
  local rest = {}
  for _, c in ipairs(cite.citations) do
    if kind_of(c.id) then
      if #out > 0 then
        out:insert(pandoc.Str(","))
        out:insert(pandoc.Space())
      end
      out:insert(reference(c.id))
    else
      rest[#rest + 1] = c
    end
  end
  if #out == 0 then
    return nil
  end
  if #rest > 0 then
    out:insert(pandoc.Space())
    out:insert(pandoc.Cite({}, rest))
  end
  return out
end

local function caption_prefix(kind, id, caption)
  if is_latex or numbers[id] == nil then
    return caption
  end
  local label = PREFIXES[kind] .. " " .. numbers[id] .. ": "
  if #caption.long > 0 and caption.long[1].content then
    caption.long[1].content:insert(1, pandoc.Str(label))
  else
    caption.long = pandoc.Blocks({ pandoc.Plain({ pandoc.Str(label) }) })
  end
  return caption
end

function Pandoc(doc)
  collect(doc)
  doc.blocks = doc.blocks:walk({
    Cite = replace_cite,
    Figure = function(f)
      f.caption = caption_prefix("fig", f.identifier, f.caption)
      return f
    end,
    Table = function(t)
      t.caption = caption_prefix("tbl", t.identifier, t.caption)
      return t
    end,
  })
  -- References may also appear in the abstract or title.
  for key, value in pairs(doc.meta) do
    if pandoc.utils.type(value) == "Inlines" or pandoc.utils.type(value) == "Blocks" then
      doc.meta[key] = value:walk({ Cite = replace_cite })
    end
  end
  return doc
end
