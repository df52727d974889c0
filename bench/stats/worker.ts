/** Bench worker: runs the scenarios the main thread sends, one at a time (the families of families.ts, or dependent-families.ts). */
import { parentPort } from 'node:worker_threads';
import { runDependentScenario, type DependentSpec } from './dependent-scenario.ts';
import { runScenario, type ScenarioSpec } from './scenario.ts';

parentPort!.on('message', (spec: ScenarioSpec | DependentSpec | null) => {
  if (spec === null) {
    parentPort!.close();
    return;
  }
  parentPort!.postMessage('kind' in spec && spec.kind === 'dependent' ? runDependentScenario(spec) : runScenario(spec as ScenarioSpec));
});
