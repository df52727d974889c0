/** Tests use the same free-port helper as the demo. */
export { freePort } from '../../src/lib/ports.ts';
