import { SETTINGS } from './config.ts';

/** The configuration table of docs/configuration.md, generated from SETTINGS so the two never drift. */
export function configurationMarkdown(): string {
  const rows = Object.values(SETTINGS).map((s) => {
    const d = s.default as unknown;
    const shown = typeof d === 'function' ? '(computed)' : d === undefined || d === '' ? '(unset)' : `\`${String(d)}\``;
    return `| \`${s.env}\` | ${shown} | ${s.doc.replaceAll('|', '\\|')} |`;
  });
  return [
    '# Configuration',
    '',
    '<!-- Generated from src/config.ts by `npm run docs:config`; a test fails when it is out of date. -->',
    '',
    'Every setting is an environment variable, read and validated once at start-up; a bad value stops the',
    'process with a message naming the variable (exit code 2).',
    '',
    '| variable | default | meaning |',
    '| --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
