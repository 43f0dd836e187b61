import { readFileSync, writeFileSync } from 'node:fs';
import { withEffectsDoc } from '../src/effects/effects-doc.ts';

const readme = new URL('../README.md', import.meta.url);
writeFileSync(readme, withEffectsDoc(readFileSync(readme, 'utf8')));
