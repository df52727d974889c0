/** Tests start Prometheus the same way the demo does. */
export * from '../../src/demo/prometheus-process.ts';
