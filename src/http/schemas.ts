/**
 * Request and response schemas shared by several routes. The routes validate
 * with them and the OpenAPI document at /docs is generated from them, so the
 * document says what the service really accepts and answers.
 */
import { z } from 'zod';

/** Why someone aborted a run or pressed halt-all: recorded with the run, shown on its page and report. */
export const reasonBody = z
  .strictObject({
    reason: z.string().trim().min(1, 'say why, in a few words').max(500).describe('Why, in a few words; recorded on the runs this ends'),
  })
  // No body at all (CLIs and scripts) arrives as null.
  .nullish()
  .describe('Optional: { "reason": "…" }');

/** Every 4xx/5xx answer: a code, a sentence that says what to do, and for bad input the fields at fault. */
export const errorResponse = z
  .object({
    error: z.string().describe('machine-readable code, e.g. invalid_input, not_found, unsupported_media_type'),
    message: z.string().describe('what is wrong and what to do'),
    errors: z.array(z.object({ path: z.string(), message: z.string(), line: z.number().optional() })).optional(),
  })
  .loose();
