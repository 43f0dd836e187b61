#!/usr/bin/env node
// Entry point: `node dist/tools/rtc-load/main.js`, `node --import tsx tools/rtc-load/main.ts`,
// or bin/rtc-load.js, which imports the compiled file.
import { runCli } from './cli.ts';

process.exitCode = await runCli(process.argv.slice(2));
