// Guards of the rule that log text (and any API text) is only ever rendered as text.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function files(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p) : /\.(jsx?|tsx?)$/.test(f) && !/\.test\./.test(f) ? [p] : [];
  });
}

describe('source safety', () => {
  const all = files(src);
  it('finds the sources', () => {
    expect(all.length).toBeGreaterThan(10);
  });
  it('never injects HTML', () => {
    for (const f of all) {
      const text = readFileSync(f, 'utf8');
      expect(text, f).not.toMatch(/dangerouslySetInnerHTML|\.innerHTML\s*=|outerHTML\s*=|insertAdjacentHTML|document\.write/);
    }
  });
});
