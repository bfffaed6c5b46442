// Worker entry: registers tsx in this thread (Node 20 workers do not inherit loader hooks), then runs
// the TypeScript module named in workerData.__entry.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.__entry);
