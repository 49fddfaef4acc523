#!/usr/bin/env node
// The DLQ tool from this repository's sources: runs the TypeScript CLI through tsx's loader (a dev
// dependency, present after `npm ci`), so no build step is needed.
import './require-node.mjs';
import { register } from 'tsx/esm/api';

register();
await import('./dlq.ts');
