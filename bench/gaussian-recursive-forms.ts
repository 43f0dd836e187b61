/**
 * Why the recursive Gaussian is Deriche's 4th-order parallel filter (8 multiplies per sample and
 * direction) and not a cheaper recursive form: each form's worst case over 8-bit images, in levels,
 * against the exact sampled Gaussian, by the measure of test/unit/gaussian-accuracy.test.ts
 * (255 / 2 * || h x h - g x g ||_1 for the 2-D kernels; above 1 the rounded output can be 2 levels
 * off somewhere). The forms:
 * - deriche4: the definition (src/effects/reference.ts);
 * - yvv3: Young and van Vliet's 3rd-order cascade, causal then anticausal, with their 1995
 *   coefficients (4 multiplies per sample and direction);
 * - best3, best4: the best cascade of 3 or 4 poles (a real pole and a conjugate pair, or two
 *   pairs; gain set for a sum of 1), poles fitted to this very measure by Nelder-Mead from several
 *   starts: no coefficients of that form can do better than about this (4 and 5 multiplies).
 *
 *   node --import tsx bench/gaussian-recursive-forms.ts [--sigmas 5,8,16,24]
 */
import { recursiveGaussianCoefficients, recursiveGaussianLine } from '../src/effects/index.ts';

const argv = process.argv.slice(2);
const sigmasArg = argv[argv.indexOf('--sigmas') + 1];
const SIGMAS = (argv.includes('--sigmas') && sigmasArg ? sigmasArg : '5,8,16,24').split(',').map(Number);

function exactKernel(sigma: number, radius: number): Float64Array {
  const g = new Float64Array(2 * radius + 1);
  for (let k = -radius; k <= radius; k++) g[k + radius] = Math.exp(-(k * k) / (2 * sigma * sigma));
  const total = g.reduce((s, v) => s + v, 0);
  return g.map((v) => v / total);
}

function worstCaseLevels(a: Float64Array, b: Float64Array): number {
  let l1 = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < a.length; j++) l1 += Math.abs(a[i]! * a[j]! - b[i]! * b[j]!);
  }
  return (255 / 2) * l1;
}

function dericheKernel(sigma: number, radius: number): Float64Array {
  const impulse = new Float64Array(2 * radius + 1);
  impulse[radius] = 1;
  const h = new Float64Array(impulse.length);
  recursiveGaussianLine(recursiveGaussianCoefficients(sigma), impulse, 0, 1, impulse.length, h);
  return h;
}

/** Polynomial 1 + d1 z^-1 + ... from its roots (conjugates in pairs): the real coefficients d1.. */
function denominator(roots: ReadonlyArray<readonly [number, number]>): number[] {
  let re = [1];
  let im = [0];
  for (const [rr, ri] of roots) {
    const nre = new Array<number>(re.length + 1).fill(0);
    const nim = new Array<number>(re.length + 1).fill(0);
    for (let i = 0; i < re.length; i++) {
      nre[i] = (nre[i] ?? 0) + re[i]!;
      nim[i] = (nim[i] ?? 0) + im[i]!;
      nre[i + 1] = (nre[i + 1] ?? 0) - (rr * re[i]! - ri * im[i]!);
      nim[i + 1] = (nim[i + 1] ?? 0) - (rr * im[i]! + ri * re[i]!);
    }
    re = nre;
    im = nim;
  }
  return re.slice(1);
}

/** Impulse response of the all-pole cascade: causal sweep then anticausal sweep, gain sum(d) + 1 each. */
function cascadeKernel(d: readonly number[], radius: number): Float64Array {
  const n = 2 * radius + 1;
  const gain = 1 + d.reduce((s, v) => s + v, 0);
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v = i === radius ? gain : 0;
    for (let j = 0; j < d.length; j++) v -= d[j]! * (w[i - j - 1] ?? 0);
    w[i] = v;
  }
  const y = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let v = gain * w[i]!;
    for (let j = 0; j < d.length; j++) v -= d[j]! * (y[i + j + 1] ?? 0);
    y[i] = v;
  }
  return y;
}

function yvv3(sigma: number): number[] {
  const q = sigma >= 2.5 ? 0.98711 * sigma - 0.9633 : 3.97156 - 4.14554 * Math.sqrt(1 - 0.26891 * sigma);
  const b0 = 1.57825 + 2.44413 * q + 1.4281 * q * q + 0.422205 * q ** 3;
  const b1 = 2.44413 * q + 2.85619 * q * q + 1.26661 * q ** 3;
  const b2 = -(1.4281 * q * q + 1.26661 * q ** 3);
  const b3 = 0.422205 * q ** 3;
  return [-b1 / b0, -b2 / b0, -b3 / b0];
}

/** Poles from parameters: [real] + pairs of (modulus, angle); invalid (unstable) as undefined. */
function polesOf(p: readonly number[], real: boolean): Array<readonly [number, number]> | undefined {
  const roots: Array<readonly [number, number]> = [];
  let i = 0;
  if (real) {
    if (!(p[0]! > 0 && p[0]! < 1)) return undefined;
    roots.push([p[0]!, 0]);
    i = 1;
  }
  for (; i + 1 < p.length; i += 2) {
    const [m, t] = [p[i]!, p[i + 1]!];
    if (!(m > 0 && m < 1)) return undefined;
    roots.push([m * Math.cos(t), m * Math.sin(t)], [m * Math.cos(t), -m * Math.sin(t)]);
  }
  return roots;
}

function nelderMead(f: (x: number[]) => number, start: number[], iterations: number): { x: number[]; value: number } {
  const n = start.length;
  let simplex = [start, ...start.map((_, i) => start.map((v, j) => (i === j ? v * 1.05 + 1e-3 : v)))].map((x) => ({ x, value: f(x) }));
  for (let it = 0; it < iterations; it++) {
    simplex.sort((a, b) => a.value - b.value);
    const worst = simplex[n]!;
    const centroid = start.map((_, j) => simplex.slice(0, n).reduce((s, p) => s + p.x[j]!, 0) / n);
    const at = (t: number) => centroid.map((c, j) => c + t * (worst.x[j]! - c));
    const reflected = { x: at(-1), value: f(at(-1)) };
    if (reflected.value < simplex[0]!.value) {
      const expanded = { x: at(-2), value: f(at(-2)) };
      simplex[n] = expanded.value < reflected.value ? expanded : reflected;
    } else if (reflected.value < simplex[n - 1]!.value) {
      simplex[n] = reflected;
    } else {
      const contracted = { x: at(0.5), value: f(at(0.5)) };
      if (contracted.value < worst.value) simplex[n] = contracted;
      else simplex = simplex.map((p, i) => (i === 0 ? p : { x: p.x.map((v, j) => simplex[0]!.x[j]! + 0.5 * (v - simplex[0]!.x[j]!)), value: 0 })).map((p, i) => (i === 0 ? p : { x: p.x, value: f(p.x) }));
    }
  }
  simplex.sort((a, b) => a.value - b.value);
  return simplex[0]!;
}

function bestCascade(sigma: number, radius: number, g: Float64Array, real: boolean, starts: number[][]): number {
  const cost = (p: number[]) => {
    const roots = polesOf(p, real);
    return roots ? worstCaseLevels(cascadeKernel(denominator(roots), radius), g) : 1e9;
  };
  return Math.min(...starts.map((s) => nelderMead(cost, s, 600).value));
}

console.log('worst case over 8-bit images, levels from the exact Gaussian (<= 1 needed; multiplies per sample and direction in brackets)');
console.log(`${'sigma'.padStart(5)} ${'deriche4 (8)'.padStart(13)} ${'yvv3 (4)'.padStart(9)} ${'best3 (4)'.padStart(10)} ${'best4 (5)'.padStart(10)}`);
for (const sigma of SIGMAS) {
  const radius = Math.ceil(10 * sigma);
  const g = exactKernel(sigma, radius);
  const deriche = worstCaseLevels(dericheKernel(sigma, radius), g);
  const yvv = worstCaseLevels(cascadeKernel(yvv3(sigma), radius), g);
  const e = (c: number) => Math.exp(-c / sigma);
  const best3 = bestCascade(sigma, radius, g, true, [
    [e(1.3), e(1.3), 1.35 / sigma],
    [e(1.6), e(1.2), 0.8 / sigma],
  ]);
  const best4 = bestCascade(sigma, radius, g, false, [
    [e(1.4), 0.58 / sigma, e(1.25), 1.82 / sigma],
    [e(1.5), 0.3 / sigma, e(1.3), 1.0 / sigma],
  ]);
  console.log(`${String(sigma).padStart(5)} ${deriche.toFixed(3).padStart(13)} ${yvv.toFixed(2).padStart(9)} ${best3.toFixed(2).padStart(10)} ${best4.toFixed(2).padStart(10)}`);
}
