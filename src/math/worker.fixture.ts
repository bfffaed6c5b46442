// Test fixture for worker.test.ts: doubles workerData.x, writes it into the shared buffer and replies.
import { parentPort, workerData } from 'node:worker_threads';

const data = workerData as { buffer: SharedArrayBuffer; x: number };
const y: number = data.x * 2;
new Float32Array(data.buffer)[0] = y;
parentPort!.postMessage({ y });
