import type { Histogram } from 'hdr-histogram-js';
import { HISTOGRAM_BINS_PER_OCTAVE } from './recorder.ts';

export interface LatencySummaryMs {
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  min: number;
}

export interface HistogramBin {
  fromMs: number;
  toMs: number;
  count: number;
}

export function summarize(latencyUs: Histogram): LatencySummaryMs {
  if (latencyUs.totalCount === 0) return { p50: 0, p90: 0, p95: 0, p99: 0, p999: 0, max: 0, mean: 0, min: 0 };
  return {
    p50: toMs(latencyUs, 50),
    p90: toMs(latencyUs, 90),
    p95: toMs(latencyUs, 95),
    p99: toMs(latencyUs, 99),
    p999: toMs(latencyUs, 99.9),
    max: round3(latencyUs.maxValue / 1000),
    mean: round3(latencyUs.mean / 1000),
    min: round3(latencyUs.minNonZeroValue / 1000),
  };
}

/** The non-empty log-spaced bins of a recorder's latency counts, in milliseconds. */
export function histogramBins(counts: Float64Array): HistogramBin[] {
  const bins: HistogramBin[] = [];
  counts.forEach((count, index) => {
    if (count === 0) return;
    const fromUs = 2 ** (index / HISTOGRAM_BINS_PER_OCTAVE);
    const toUs = 2 ** ((index + 1) / HISTOGRAM_BINS_PER_OCTAVE);
    bins.push({ fromMs: round3(fromUs / 1000), toMs: round3(toUs / 1000), count });
  });
  return bins;
}

export function toMs(histogramUs: Histogram, percentile: number): number {
  // HDR answers with the top of the value's bucket, which can exceed the largest value recorded.
  return round3(Math.min(histogramUs.getValueAtPercentile(percentile), histogramUs.maxValue) / 1000);
}

export function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
