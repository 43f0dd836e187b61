import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { EFFECT_NAMES } from '../../src/effects/catalog.ts';
import { EFFECTS_DOC_BEGIN, EFFECTS_DOC_END, withEffectsDoc } from '../../src/effects/effects-doc.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

test("the README's list of effects is current (npm run docs:effects)", () => {
  assert.equal(readme, withEffectsDoc(readme));
});

test('every effect of the catalog has its row in the README', () => {
  const section = readme.slice(readme.indexOf(EFFECTS_DOC_BEGIN), readme.indexOf(EFFECTS_DOC_END));
  for (const name of EFFECT_NAMES) assert.match(section, new RegExp(`^\\| \`${name}\` \\|`, 'm'), name);
});
