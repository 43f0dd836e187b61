/** Milliseconds with precision that suits their size. */
export function formatMs(valueMs: number): string {
  if (valueMs < 10) return valueMs.toFixed(2);
  if (valueMs < 1000) return valueMs.toFixed(1);
  return valueMs.toFixed(0);
}
