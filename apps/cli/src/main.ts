#!/usr/bin/env node
/**
 * `usbscsi` entry point: switches the compile cache on (compile-cache.ts), then loads the program
 * (cli.ts), whose chunks it compiles from the cache.
 */
import { enableCompileCache } from './compile-cache.js';

enableCompileCache();
void import('./cli.js');
