import { writeFileSync } from 'node:fs';
import { renderConfigDocs } from '../src/config/docs.ts';

const target = new URL('../../../docs/configuration.md', import.meta.url);
writeFileSync(target, renderConfigDocs());
console.log(`wrote ${target.pathname}`);
