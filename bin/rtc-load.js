#!/usr/bin/env node
// Thin launcher for the compiled CLI; the sources live in tools/rtc-load/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/tools/rtc-load/main.js', import.meta.url);

if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write(
    'rtc-load: the compiled CLI is missing (dist/tools/rtc-load/main.js).\n' +
      "Run 'npm run build' in the rtc-scale directory first, or run the sources with\n" +
      "'node --import tsx tools/rtc-load/main.ts'.\n",
  );
  process.exit(1);
}

await import(entry.href);
