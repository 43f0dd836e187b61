/**
 * The README's list of effects, generated from the catalog so that the two never drift:
 * `npm run docs:effects` rewrites the lines between the markers, test/unit/effects-doc.test.ts
 * fails when they are out of date.
 */
import { EFFECT_NAMES, EFFECTS, type EffectSpec, type ParamSpec } from './catalog.ts';

export const EFFECTS_DOC_BEGIN = '<!-- effects: generated from src/effects/catalog.ts by `npm run docs:effects` -->';
export const EFFECTS_DOC_END = '<!-- /effects -->';

/** Colours and other wide integers read better in hex (0x00b140), as the query takes them. */
function formatValue(spec: ParamSpec, value: number): string {
  return spec.integer && spec.max > 0xffff ? `0x${value.toString(16).padStart(6, '0')}` : String(value);
}

function formatParams(spec: EffectSpec): string {
  const params = Object.entries(spec.params).map(
    ([name, p]) => `\`${name}\` ${formatValue(p, p.min)}–${formatValue(p, p.max)}, default ${formatValue(p, p.default)}: ${p.description}`,
  );
  return params.length === 0 ? '–' : params.join('; ');
}

/** The table of effects: name, parameters with range and default, what it does. */
export function effectsMarkdown(): string {
  const rows = EFFECT_NAMES.map((name) => {
    const spec: EffectSpec = EFFECTS[name];
    return `| \`${name}\` | ${formatParams(spec).replaceAll('|', '\\|')} | ${spec.description.replaceAll('|', '\\|')} |`;
  });
  return ['| effect | parameters | what it does |', '| --- | --- | --- |', ...rows].join('\n');
}

/** `readme` with the lines between the markers replaced by the current table. */
export function withEffectsDoc(readme: string): string {
  const begin = readme.indexOf(EFFECTS_DOC_BEGIN);
  const end = readme.indexOf(EFFECTS_DOC_END);
  if (begin < 0 || end < begin) throw new Error(`README.md has no ${EFFECTS_DOC_BEGIN} ... ${EFFECTS_DOC_END} section`);
  return `${readme.slice(0, begin + EFFECTS_DOC_BEGIN.length)}\n${effectsMarkdown()}\n${readme.slice(end)}`;
}
