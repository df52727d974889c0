#!/usr/bin/env node
// The `steadystate` command.
//
// Installed from the package (npm install -g steadystate, npx steadystate), it runs the compiled
// JavaScript in dist/: no TypeScript is compiled at run time, and tsx is not even installed.
// In a checkout (src/ beside bin/) it runs the TypeScript sources through tsx, so the command works
// right after `npm ci` with no build step and never runs a stale dist/ left by an earlier build
// (docs/adr/001, docs/adr/021). The container image runs dist/cli/main.js directly.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(sources.href);
} else {
  await import('../dist/cli/main.js');
}
