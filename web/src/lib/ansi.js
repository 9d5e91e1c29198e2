// A small ANSI SGR parser for CI log text.
//
// parseAnsi(text) turns raw log text into lines of styled segments, [{text, style}], that the log
// viewer renders as React text nodes inside <span>s. Nothing here produces HTML: whatever the log
// says ("<script>", "<img onerror=...>") stays text. Escape sequences other than SGR (cursor
// movement, erase, OSC titles and hyperlinks) are dropped, as are unterminated ones and stray
// control characters, so a hostile or truncated log cannot smuggle anything into the page.

// The 16 basic colours (xterm-like, tuned to read on a dark background).
export const PALETTE = [
  '#4b5563', '#f87171', '#4ade80', '#facc15', '#60a5fa', '#e879f9', '#22d3ee', '#e5e7eb',
  '#9ca3af', '#fca5a5', '#86efac', '#fde047', '#93c5fd', '#f0abfc', '#67e8f9', '#ffffff',
];

// Hard limits so that absurd input cannot cost much.
const MAX_PARAMS = 32;

function clampByte(n) {
  if (!Number.isFinite(n) || n < 0) return 0;
  return n > 255 ? 255 : Math.floor(n);
}

function hex2(n) {
  return clampByte(n).toString(16).padStart(2, '0');
}

// Colour of index 0..255 in the xterm 256-colour table, as #rrggbb.
export function color256(n) {
  const i = clampByte(n);
  if (i < 16) return PALETTE[i];
  if (i < 232) {
    const v = i - 16;
    const steps = [0, 95, 135, 175, 215, 255];
    const r = steps[Math.floor(v / 36)];
    const g = steps[Math.floor(v / 6) % 6];
    const b = steps[v % 6];
    return '#' + hex2(r) + hex2(g) + hex2(b);
  }
  const grey = 8 + (i - 232) * 10;
  return '#' + hex2(grey) + hex2(grey) + hex2(grey);
}

const EMPTY = Object.freeze({});

// Applies one SGR parameter list to a style, returning a new style object.
function applySgr(style, params) {
  const s = { ...style };
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    if (p === 0) {
      for (const k of Object.keys(s)) delete s[k];
    } else if (p === 1) s.bold = true;
    else if (p === 2) s.dim = true;
    else if (p === 3) s.italic = true;
    else if (p === 4) s.underline = true;
    else if (p === 7) s.inverse = true;
    else if (p === 9) s.strike = true;
    else if (p === 22) { delete s.bold; delete s.dim; }
    else if (p === 23) delete s.italic;
    else if (p === 24) delete s.underline;
    else if (p === 27) delete s.inverse;
    else if (p === 29) delete s.strike;
    else if (p >= 30 && p <= 37) s.fg = PALETTE[p - 30];
    else if (p >= 90 && p <= 97) s.fg = PALETTE[p - 90 + 8];
    else if (p === 39) delete s.fg;
    else if (p >= 40 && p <= 47) s.bg = PALETTE[p - 40];
    else if (p >= 100 && p <= 107) s.bg = PALETTE[p - 100 + 8];
    else if (p === 49) delete s.bg;
    else if (p === 38 || p === 48) {
      // Extended colour: 38;5;N (256 colours) or 38;2;R;G;B (truecolour).
      const key = p === 38 ? 'fg' : 'bg';
      const mode = params[i + 1];
      if (mode === 5 && i + 2 < params.length) {
        s[key] = color256(params[i + 2]);
        i += 2;
      } else if (mode === 2 && i + 4 < params.length) {
        s[key] = '#' + hex2(params[i + 2]) + hex2(params[i + 3]) + hex2(params[i + 4]);
        i += 4;
      } else {
        // Malformed: ignore the rest of this sequence rather than guess.
        break;
      }
    }
    // Anything else (blink, fonts, ...) is ignored.
  }
  return Object.keys(s).length ? s : EMPTY;
}

// Tab and everything from space up, but DEL and the C1 controls.
function printable(c) {
  return c === 0x09 || (c >= 0x20 && c !== 0x7f && !(c >= 0x80 && c < 0xa0));
}

function sameStyle(a, b) {
  if (a === b) return true;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

// Parses the parameter bytes of a CSI sequence ("1;31", "", "38:5:196") into numbers.
function parseParams(raw) {
  if (raw === '') return [0];
  const parts = raw.split(/[;:]/, MAX_PARAMS);
  return parts.map((x) => (x === '' ? 0 : Math.min(parseInt(x, 10) || 0, 1e6)));
}

/**
 * Parses log text into lines of segments.
 * @param {string} text raw log text (any content; non-strings are treated as empty)
 * @returns {{text: string, style: object}[][]} one array of segments per line
 */
export function parseAnsi(text) {
  const src = typeof text === 'string' ? text : '';
  const lines = [];
  let line = [];
  let style = EMPTY;
  let buf = '';
  let overwrite = false;

  const flush = () => {
    if (buf === '') return;
    const last = line[line.length - 1];
    if (last && sameStyle(last.style, style)) last.text += buf;
    else line.push({ text: buf, style });
    buf = '';
  };

  const n = src.length;
  let i = 0;
  while (i < n) {
    const c = src.charCodeAt(i);
    if (c === 0x1b) {
      flush();
      const next = src[i + 1];
      if (next === '[') {
        // CSI: parameter bytes 0x30-0x3f, intermediate 0x20-0x2f, final 0x40-0x7e.
        let j = i + 2;
        while (j < n && src.charCodeAt(j) >= 0x30 && src.charCodeAt(j) <= 0x3f) j++;
        const params = src.slice(i + 2, j);
        while (j < n && src.charCodeAt(j) >= 0x20 && src.charCodeAt(j) <= 0x2f) j++;
        if (j >= n) break; // unterminated: drop the rest of the sequence
        const fin = src[j];
        const code = src.charCodeAt(j);
        if (code < 0x40 || code > 0x7e) {
          // Not a valid final byte: drop the introducer and go on from here.
          i = j;
          continue;
        }
        if (fin === 'm' && /^[0-9;:]*$/.test(params)) style = applySgr(style, parseParams(params));
        i = j + 1;
      } else if (next === ']') {
        // OSC: up to BEL or ST (ESC \). Dropped whole, hyperlinks included.
        let j = i + 2;
        while (j < n && src.charCodeAt(j) !== 0x07 && !(src.charCodeAt(j) === 0x1b && src[j + 1] === '\\')) {
          if (src[j] === '\n') break; // never swallow past the end of a line
          j++;
        }
        if (j >= n) break;
        if (src[j] === '\n') i = j;
        else i = j + (src.charCodeAt(j) === 0x07 ? 1 : 2);
      } else if (next === undefined) {
        i += 1; // lone ESC at the very end
      } else {
        // Two-byte escapes (ESC =, ESC 7, ESC ( B ...): drop ESC and the byte after it.
        i += next === '(' || next === ')' ? 3 : 2;
      }
      continue;
    }
    if (c === 0x0a) {
      flush();
      lines.push(line);
      line = [];
      overwrite = false;
      i++;
      continue;
    }
    if (c === 0x0d) {
      // "\r\n" is a plain line end; after a lone "\r" (progress bars) the next text starts the
      // line over, as a terminal would show it.
      if (src.charCodeAt(i + 1) !== 0x0a) overwrite = true;
      i++;
      continue;
    }
    if (printable(c)) {
      let j = i + 1;
      while (j < n && printable(src.charCodeAt(j))) j++;
      if (overwrite) {
        buf = '';
        line = [];
        overwrite = false;
      }
      buf += src.slice(i, j);
      i = j;
      continue;
    }
    i++; // other C0 controls (BEL, backspace, NUL, ...) are dropped
  }
  flush();
  // A trailing newline ends the last line; it does not start an extra empty one.
  if (line.length || lines.length === 0) lines.push(line);
  return lines;
}

/** The text of a log with every escape sequence and control character removed. */
export function stripAnsi(text) {
  return parseAnsi(text)
    .map((segs) => segs.map((s) => s.text).join(''))
    .join('\n');
}

/** The inline CSS for a segment's style (React style object); colours are #rrggbb only. */
export function styleToCss(style) {
  if (!style || style === EMPTY) return undefined;
  const css = {};
  let fg = style.fg;
  let bg = style.bg;
  if (style.inverse) {
    fg = style.bg || '#111827';
    bg = style.fg || '#e5e7eb';
  }
  if (fg) css.color = fg;
  if (bg) css.backgroundColor = bg;
  if (style.bold) css.fontWeight = 600;
  if (style.dim) css.opacity = 0.7;
  if (style.italic) css.fontStyle = 'italic';
  const deco = [style.underline && 'underline', style.strike && 'line-through'].filter(Boolean);
  if (deco.length) css.textDecoration = deco.join(' ');
  return Object.keys(css).length ? css : undefined;
}
