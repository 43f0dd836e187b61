import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { errorsMarkdown } from '../../src/errors-doc.ts';
import { ERROR_CODES, REJECT_REASONS } from '../../src/errors.ts';

const committed = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

test('docs/errors.md is current (npm run docs:errors)', () => {
  assert.equal(committed, errorsMarkdown());
});

test('every error code and rejection reason is listed in docs/errors.md', () => {
  for (const code of ERROR_CODES) assert.match(committed, new RegExp(`^\\| \`${code}\` \\|`, 'm'), code);
  for (const reason of REJECT_REASONS) assert.match(committed, new RegExp(`^\\| \`${reason}\` \\|`, 'm'), reason);
});
