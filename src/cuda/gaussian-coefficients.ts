/**
 * The recursive Gaussian's coefficients as the CUDA kernels take them (kernels.cu and segment.cu,
 * RTC_IIR_* / RTC_SEG_IIR_*): the sections of recursiveGaussianCoefficients() with their poles
 * rounded to f32 and the numerators normalised again over those poles, so that the f32 filter
 * keeps a constant line constant (as assembly/gaussian-iir.ts does).
 */
import { recursiveGaussianCoefficients } from '../effects/reference.ts';

/** 14 floats, in this order: a1 a2 e1 e2 c0 c1 f0 f1 d1 d2 g1 g2, then 1/(1+a1+a2) and 1/(1+e1+e2). */
export function recursiveGaussianFloats(sigma: number): Float32Array {
  const sections = recursiveGaussianCoefficients(sigma).map((s) => ({ ...s, a1: Math.fround(s.a1), a2: Math.fround(s.a2) }));
  const total = sections.reduce((sum, s) => sum + (s.c0 + s.c1 + s.d1 + s.d2) / (1 + s.a1 + s.a2), 0);
  const [a, b] = sections as [(typeof sections)[0], (typeof sections)[0]];
  return Float32Array.of(
    a.a1,
    a.a2,
    b.a1,
    b.a2,
    a.c0 / total,
    a.c1 / total,
    b.c0 / total,
    b.c1 / total,
    a.d1 / total,
    a.d2 / total,
    b.d1 / total,
    b.d2 / total,
    1 / (1 + a.a1 + a.a2),
    1 / (1 + b.a1 + b.a2),
  );
}
