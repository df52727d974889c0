/** Tests drive load the same way the demo does. */
export * from '../../src/demo/load-generator.ts';
