#!/usr/bin/env node
// The `nango-metadata-sync-dlq` bin: runs the TypeScript CLI through tsx's loader (a dev
// dependency, present after `npm ci`), so no build step is needed.
import './require-node.mjs';
import { register } from 'tsx/esm/api';

register();
await import('./dlq.ts');
