import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { errorsMarkdown } from '../../src/errors-doc.ts';
import { CONTROL_ERROR_CODES, ERROR_CODES, ERRORS, REJECT_REASONS } from '../../src/errors.ts';

const committed = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

test('docs/errors.md is current (npm run docs:errors)', () => {
  assert.equal(committed, errorsMarkdown());
});

test('every error code and rejection reason is listed in docs/errors.md', () => {
  for (const code of ERROR_CODES) assert.match(committed, new RegExp(`^\\| \`${code}\` \\|`, 'm'), code);
  for (const reason of REJECT_REASONS) assert.match(committed, new RegExp(`^\\| \`${reason}\` \\|`, 'm'), reason);
});

test('every code the control data channel sends is in the catalog and in its section of docs/errors.md', () => {
  const section = committed.split(/^## /m).find((s) => s.startsWith('The control data channel'));
  assert.ok(section, 'docs/errors.md has a section on the control data channel');
  for (const code of CONTROL_ERROR_CODES) {
    assert.ok(Object.hasOwn(ERRORS, code), code);
    assert.match(section, new RegExp(`^\\| \`${code}\` \\|`, 'm'), code);
  }
});
