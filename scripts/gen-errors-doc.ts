import { writeFileSync } from 'node:fs';
import { errorsMarkdown } from '../src/errors-doc.ts';

writeFileSync(new URL('../docs/errors.md', import.meta.url), errorsMarkdown());
