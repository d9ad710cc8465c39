#!/usr/bin/env node
import { runOrExit } from './cli.js';

runOrExit(process.argv);
