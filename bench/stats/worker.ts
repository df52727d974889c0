/** Bench worker: runs the scenarios the main thread sends, one at a time. */
import { parentPort } from 'node:worker_threads';
import { runScenario, type ScenarioSpec } from './scenario.ts';

parentPort!.on('message', (spec: ScenarioSpec | null) => {
  if (spec === null) {
    parentPort!.close();
    return;
  }
  parentPort!.postMessage(runScenario(spec));
});
