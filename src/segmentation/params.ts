import { EFFECTS, type EffectParams, type ParamSpec, type SegmentationEffectName } from '../effects/catalog.ts';

export type { SegmentationEffectName };

/** The parameters of a segmentation effect with the catalog's defaults filled in, typed by name. */
export function withDefaultsOf<E extends SegmentationEffectName>(
  effect: E,
  params: EffectParams,
): { readonly [K in keyof (typeof EFFECTS)[E]['params']]: number } {
  const specs: Readonly<Record<string, ParamSpec>> = EFFECTS[effect].params;
  const out: Record<string, number> = {};
  for (const [name, spec] of Object.entries(specs)) out[name] = params[name] ?? spec.default;
  return out as { readonly [K in keyof (typeof EFFECTS)[E]['params']]: number };
}
