// Post-build step of `npm run build -w @genz/web`: completes .next/standalone so it runs on its own.
import { copyStandaloneAssets, serverDir } from './standalone.mjs';

copyStandaloneAssets();
console.log(`standalone web server ready in ${serverDir}`);
