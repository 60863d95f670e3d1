--[[
loralab's alt-text filter: a figure's alt text is its caption as plain text. Pandoc stringifies math
verbatim, so `$\pm\delta$` became `\pm\delta` in the Markdown and `\textbackslash pm` in the PDF's
alt text; here math in an image's description is rewritten as the Unicode a screen reader can say.
]]

local SYMBOLS = {
  pm = "±", delta = "δ", Delta = "Δ", alpha = "α", beta = "β", sigma = "σ", mu = "μ", tau = "τ",
  times = "×", cdot = "·", le = "≤", leq = "≤", ge = "≥", geq = "≥", approx = "≈", propto = "∝",
  ne = "≠", neq = "≠", infty = "∞", sum = "Σ", to = "→", ldots = "…", dots = "…", mid = "|",
}

local function plain(tex)
  local text = tex:gsub("\\(%a+)", function(name)
    return SYMBOLS[name] or name
  end)
  text = text:gsub("\\,", " "):gsub("[{}]", ""):gsub("\\", "")
  return text
end

local function rewrite(inlines)
  return inlines:walk({
    Math = function(m)
      return pandoc.Str(plain(m.text))
    end,
  })
end

function Image(img)
  img.caption = rewrite(img.caption)
  if img.attributes.alt then
    img.attributes.alt = plain(img.attributes.alt:gsub("%$", ""))
  end
  return img
end
