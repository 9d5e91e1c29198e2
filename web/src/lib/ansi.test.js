import { describe, expect, it } from 'vitest';
import { PALETTE, color256, parseAnsi, stripAnsi, styleToCss } from './ansi.js';

const ESC = '\x1b';
const texts = (lines) => lines.map((l) => l.map((s) => s.text).join(''));

describe('parseAnsi', () => {
  it('splits plain text into lines without an extra line for the final newline', () => {
    expect(texts(parseAnsi('a\nb\n'))).toEqual(['a', 'b']);
    expect(texts(parseAnsi('a\r\nb'))).toEqual(['a', 'b']);
    expect(texts(parseAnsi(''))).toEqual(['']);
    expect(texts(parseAnsi('\n\n'))).toEqual(['', '']);
  });

  it('treats non-strings as empty', () => {
    expect(parseAnsi(undefined)).toEqual([[]]);
    expect(parseAnsi(null)).toEqual([[]]);
    expect(parseAnsi(42)).toEqual([[]]);
  });

  it('applies basic foreground colours and resets', () => {
    const [line] = parseAnsi(`ok ${ESC}[31mred${ESC}[0m plain`);
    expect(line).toEqual([
      { text: 'ok ', style: {} },
      { text: 'red', style: { fg: PALETTE[1] } },
      { text: ' plain', style: {} },
    ]);
  });

  it('handles bold, bright, background and partial resets', () => {
    const [line] = parseAnsi(`${ESC}[1;92;44mA${ESC}[22mB${ESC}[39;49mC`);
    expect(line[0]).toEqual({ text: 'A', style: { bold: true, fg: PALETTE[10], bg: PALETTE[4] } });
    expect(line[1]).toEqual({ text: 'B', style: { fg: PALETTE[10], bg: PALETTE[4] } });
    expect(line[2]).toEqual({ text: 'C', style: {} });
  });

  it('treats ESC[m as a reset', () => {
    const [line] = parseAnsi(`${ESC}[31mx${ESC}[my`);
    expect(line[1]).toEqual({ text: 'y', style: {} });
  });

  it('keeps styles across lines, as a terminal does', () => {
    const lines = parseAnsi(`${ESC}[33mone\ntwo${ESC}[0m\nthree`);
    expect(lines[1][0].style.fg).toBe(PALETTE[3]);
    expect(lines[2][0].style).toEqual({});
  });

  it('supports 256-colour codes', () => {
    const [line] = parseAnsi(`${ESC}[38;5;196mred${ESC}[48;5;21mblue-bg${ESC}[38;5;244mgrey`);
    expect(line[0].style.fg).toBe('#ff0000');
    expect(line[1].style.bg).toBe('#0000ff');
    expect(line[2].style.fg).toBe('#808080');
    expect(color256(3)).toBe(PALETTE[3]);
    expect(color256(999)).toBe(color256(255));
    expect(color256(-4)).toBe(PALETTE[0]);
  });

  it('supports truecolour codes, clamping components', () => {
    const [line] = parseAnsi(`${ESC}[38;2;255;128;0morange${ESC}[38;2;999;0;1000mclamped${ESC}[48:2:1:2:3mcolon`);
    expect(line[0].style.fg).toBe('#ff8000');
    expect(line[1].style.fg).toBe('#ff00ff');
    expect(line[2].style.bg).toBe('#010203');
  });

  it('ignores malformed extended colours instead of guessing', () => {
    const [line] = parseAnsi(`${ESC}[38;5mA${ESC}[38;2;1;2mB${ESC}[38;7;1mC`);
    expect(texts([line])).toEqual(['ABC']);
    for (const seg of line) expect(seg.style.fg).toBeUndefined();
  });

  it('keeps HTML in log text as text', () => {
    const hostile = '<script>alert(1)</script> <img src=x onerror=alert(2)>';
    const lines = parseAnsi(`${ESC}[31m${hostile}${ESC}[0m`);
    expect(texts(lines)).toEqual([hostile]);
    expect(lines[0][0].style.fg).toBe(PALETTE[1]);
  });

  it('drops unterminated escape sequences', () => {
    expect(texts(parseAnsi(`done${ESC}[31`))).toEqual(['done']);
    expect(texts(parseAnsi(`done${ESC}[`))).toEqual(['done']);
    expect(texts(parseAnsi(`done${ESC}`))).toEqual(['done']);
    expect(texts(parseAnsi(`a${ESC}[31\nb`))).toEqual(['a', 'b']);
    expect(texts(parseAnsi(`a${ESC}]0;title`))).toEqual(['a']);
  });

  it('drops non-SGR CSI, OSC (hyperlinks, titles) and two-byte escapes', () => {
    const s = `${ESC}[2K${ESC}[?25l${ESC}]0;title${ESC}\\${ESC}]8;;https://evil.example/${ESC}\\link${ESC}]8;;${ESC}\\${ESC}(B${ESC}=x`;
    expect(texts(parseAnsi(s))).toEqual(['linkx']);
  });

  it('does not let an OSC swallow the following lines', () => {
    expect(texts(parseAnsi(`a${ESC}]8;;x\nb`))).toEqual(['a', 'b']);
  });

  it('drops control characters but keeps tabs and unicode', () => {
    expect(texts(parseAnsi('a\x00b\x07c\x08d\x7fe\u0085f\tg ✓ 日本'))).toEqual(['abcdef\tg ✓ 日本']);
  });

  it('shows the last state of a line rewritten with carriage returns', () => {
    expect(texts(parseAnsi('10%\r50%\r100%\ndone'))).toEqual(['100%', 'done']);
    expect(texts(parseAnsi('keep\r'))).toEqual(['keep']);
  });

  it('ignores ridiculous parameter values and counts', () => {
    const many = Array.from({ length: 5000 }, () => '1').join(';');
    const [line] = parseAnsi(`${ESC}[${many};99999999999999999999mX`);
    expect(texts([line])).toEqual(['X']);
  });

  it('merges adjacent segments of the same style', () => {
    const [line] = parseAnsi(`${ESC}[31ma${ESC}[31mb`);
    expect(line).toEqual([{ text: 'ab', style: { fg: PALETTE[1] } }]);
  });

  // Speed on large input belongs to the benchmarks, not here (no timed assertions in tests):
  // this checks that a large tail is parsed whole and styled on every line.
  it('parses a large input whole', () => {
    const big = `${ESC}[32mline ${'x'.repeat(80)}${ESC}[0m\n`.repeat(20000);
    const lines = parseAnsi(big);
    expect(lines.length).toBe(20000);
    expect(lines[19999].map((s) => s.text).join('')).toBe(`line ${'x'.repeat(80)}`);
    expect(lines[19999][0].style).toEqual({ fg: PALETTE[2] });
  });
});

describe('stripAnsi', () => {
  it('returns the plain text', () => {
    expect(stripAnsi(`${ESC}[1;31merror:${ESC}[0m boom\nnext`)).toBe('error: boom\nnext');
  });
});

describe('styleToCss', () => {
  it('maps styles to CSS with hex colours only', () => {
    expect(styleToCss({})).toBeUndefined();
    expect(styleToCss({ fg: '#ff0000', bold: true, underline: true, strike: true })).toEqual({
      color: '#ff0000',
      fontWeight: 600,
      textDecoration: 'underline line-through',
    });
    expect(styleToCss({ inverse: true, fg: '#ff0000' })).toEqual({ color: '#111827', backgroundColor: '#ff0000' });
  });
});
