/** The service's HTTP surface as a client builds it (the seed's query: pixels, iters, effect). */
export interface ProcessQuery {
  /** WxH of the synthetic test card processed when the body is empty, e.g. 1280x720. */
  readonly pixels?: string;
  readonly iters?: number;
  readonly effect?: string;
  readonly [name: string]: string | number | undefined;
}

/** `BASE/process?…` with the query's defined entries, e.g. processUrl('http://localhost:8080', { pixels: '640x480' }). */
export function processUrl(base: string | URL, query: ProcessQuery = {}): URL {
  const url = new URL('/process', base);
  for (const [name, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(name, String(value));
  return url;
}
