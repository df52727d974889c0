import { AppError } from '../lib/errors.ts';

/**
 * A statistical routine was handed input it cannot analyse: an empty sample, a
 * NaN or ±Infinity, a confidence level outside (0, 1). Raised instead of
 * returning NaN, which would flow silently into a verdict. Callers that judge
 * live data (the verdict) screen for these cases first and answer
 * `inconclusive`, so reaching this error is a programming mistake, not bad luck.
 */
export class StatsInputError extends AppError {
  constructor(message: string) {
    super(message, { code: 'invalid_stats_input', httpStatus: 422, retryable: false });
  }
}
