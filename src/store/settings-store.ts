/**
 * Service-wide settings, one jsonb value per key. Today only `halt_all`: while
 * it is active no run may start (the service checks it before every start, and
 * halts every open window when it is set).
 */
import { batchedLookup } from './group-commit.ts';
import { iso, requireText } from './rows.ts';
import type { Sql } from './sql.ts';
import type { HaltAllState, SettingsRepository } from './types.ts';

const HALT_ALL = 'halt_all';

interface SettingRow {
  value: { active?: unknown; reason?: unknown };
  updated_at: Date;
  updated_by: string;
}

function toState(row: SettingRow | undefined): HaltAllState {
  if (!row) return { active: false };
  const state: HaltAllState = { active: row.value.active === true, since: iso(row.updated_at), actor: row.updated_by };
  if (typeof row.value.reason === 'string') state.reason = row.value.reason;
  return state;
}

export function createSettingsRepository(sql: Sql): SettingsRepository {
  // Every start checks halt-all: a burst of starts shares one query (asked after each of them was).
  const setting = batchedLookup(async (keys: string[]) => {
    const rows = await sql.query<SettingRow & { key: string }>('SELECT key, value, updated_at, updated_by FROM settings WHERE key = ANY($1::text[])', [keys]);
    return new Map(rows.map((r) => [r.key, r]));
  });
  const haltAll = async (): Promise<HaltAllState> => toState(await setting(HALT_ALL));

  /** Write `active` unless it already holds: the first to set (or clear) it keeps `since` and `actor`. */
  const write = async (active: boolean, actor: string, reason?: string): Promise<HaltAllState> => {
    requireText(actor, 'actor', 256);
    if (reason !== undefined) requireText(reason, 'reason', 1000);
    const [row] = await sql.query<SettingRow>(
      `INSERT INTO settings AS s (key, value, updated_by) VALUES ($1, $2::jsonb, $3)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now(), updated_by = EXCLUDED.updated_by
         WHERE (s.value->>'active')::boolean IS DISTINCT FROM $4::boolean
       RETURNING value, updated_at, updated_by`,
      [HALT_ALL, JSON.stringify(reason === undefined ? { active } : { active, reason }), actor, active],
    );
    return row ? toState(row) : haltAll();
  };

  return {
    haltAll,
    setHaltAll: (actor, reason) => write(true, actor, reason),
    clearHaltAll: (actor) => write(false, actor),
  };
}
