/** Who a CLI command acts as, in the service's records: `cli:USER@HOST`. */
import { hostname, userInfo } from 'node:os';

export function cliActor(): string {
  let user = process.env.USER ?? process.env.USERNAME ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry for this uid (containers): keep the environment's name.
  }
  return `cli:${user}@${hostname()}`;
}
