"""A font for the Chinese text of the pages (the FAQ quotes the seed tutorial in its own words).

A machine without a CJK font draws those characters as empty boxes. When this machine has one, the page embeds the
few glyphs it uses, cut out of that font (a few kB per page; fontTools ships with matplotlib); when it has none, the
page names the usual CJK fonts in its font stack, so that a reader's own fonts take over.
"""
from __future__ import annotations

import base64
import io
import re
from functools import lru_cache
from pathlib import Path

FAMILY = "bench-cjk"
# CJK punctuation, kana, unified ideographs, compatibility ideographs, full-width forms
CJK = re.compile(r"[\u2e80-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")
UNICODE_RANGE = "U+2E80-30FF,U+3400-4DBF,U+4E00-9FFF,U+F900-FAFF,U+FE30-FE4F,U+FF00-FFEF"
SYSTEM_CJK = ('"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Hiragino Sans GB","Microsoft YaHei",'
              '"WenQuanYi Micro Hei","Droid Sans Fallback"')
# file names of fonts worth opening to look for CJK glyphs (opening every system font would be slow)
LIKELY = re.compile(r"cjk|han|droidsansfallback|wqy|wenquanyi|pingfang|hiragino|yahei|msyh|simhei|simsun|heiti|songti|"
                    r"notosanssc|notoserifsc|arphic|ukai|uming", re.I)
PROBE = "的问题"  # common characters every CJK font has


def cjk_chars(text: str) -> str:
    return "".join(sorted(set(CJK.findall(text))))


@lru_cache(maxsize=1)
def cjk_font() -> Path | None:
    """A font file on this machine with CJK glyphs (None when there is none)."""
    from fontTools.ttLib import TTCollection, TTFont
    from matplotlib import font_manager

    for name in sorted(p for p in font_manager.findSystemFonts() if LIKELY.search(Path(p).name)):
        try:
            font = TTCollection(name).fonts[0] if name.lower().endswith(".ttc") else TTFont(name, lazy=True)
            if all(ord(ch) in font.getBestCmap() for ch in PROBE):
                return Path(name)
        except Exception:  # an unreadable or unusual font file: try the next one
            continue
    return None


@lru_cache(maxsize=16)
def subset(chars: str, path: Path) -> bytes:
    """The glyphs of chars cut out of the font at path, as WOFF (zlib: no extra dependency)."""
    from fontTools import subset as fs

    options = fs.Options()
    options.flavor, options.layout_features, options.name_IDs, options.notdef_outline = "woff", [], ["*"], True
    options.font_number = 0  # the first font of a collection (.ttc)
    font = fs.load_font(str(path), options)
    subsetter = fs.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    out = io.BytesIO()
    fs.save_font(font, out, options)
    return out.getvalue()


def font_face(text: str) -> str:
    """The @font-face rule embedding the CJK glyphs of text, or '' when text has none or no font is at hand."""
    chars = cjk_chars(text)
    path = cjk_font() if chars else None
    if path is None:
        return ""
    data = base64.b64encode(subset(chars, path)).decode()
    return (f'@font-face{{font-family:"{FAMILY}";src:url(data:font/woff;base64,{data}) format("woff");'
            f"unicode-range:{UNICODE_RANGE};font-display:block}}")
