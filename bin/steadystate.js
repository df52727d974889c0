#!/usr/bin/env node
// The `steadystate` command. It runs the TypeScript sources through tsx so the
// command works right after `npm ci`, with no build step (see docs/adr/001).
// The container image runs the compiled `dist/cli/main.js` instead.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
