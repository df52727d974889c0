import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AbortedError, InjectorError } from '../../src/lib/errors.ts';
import { backoffDelay, retry, sleep } from '../../src/lib/retry.ts';

/** A sleep that only records what it was asked to wait. */
function recordingSleep(): { delays: number[]; sleep: (ms: number) => Promise<void> } {
  const delays: number[] = [];
  return {
    delays,
    sleep: (ms: number) => {
      delays.push(ms);
      return Promise.resolve();
    },
  };
}

const transient = (n: number): InjectorError => new InjectorError(`transient ${n}`, { retryable: true });

void describe('retry', () => {
  void it('draws each delay uniformly below a cap that doubles from baseMs up to maxMs (full jitter)', async () => {
    const { delays, sleep: fakeSleep } = recordingSleep();
    const randoms = [0.5, 0.25, 0.999999, 0, 0.75, 0.5];
    let i = 0;
    await assert.rejects(
      retry(
        (attempt) => Promise.reject(transient(attempt)),
        { attempts: 7, baseMs: 100, maxMs: 1_000, random: () => randoms[i++] ?? 0, sleep: fakeSleep },
      ),
      /transient 7/,
    );
    // Caps: 100, 200, 400, 800, 1000 (capped), 1000 (capped).
    assert.deepEqual(delays, [50, 50, 399, 0, 750, 500]);
  });

  void it('never waits as long as the cap, whatever random() returns', async () => {
    const caps = [10, 20, 40, 80, 100, 100, 100, 100];
    for (let trial = 0; trial < 50; trial++) {
      const { delays, sleep: fakeSleep } = recordingSleep();
      await assert.rejects(
        retry(() => Promise.reject(transient(0)), { attempts: caps.length + 1, baseMs: 10, maxMs: 100, sleep: fakeSleep }),
      );
      assert.equal(delays.length, caps.length);
      delays.forEach((d, k) => {
        assert.ok(d >= 0 && d < (caps[k] as number), `delay ${d} after attempt ${k + 1} should be in [0, ${caps[k]})`);
      });
    }
  });

  void it('returns the first success and passes 1-based attempt numbers', async () => {
    const { delays, sleep: fakeSleep } = recordingSleep();
    const seen: number[] = [];
    const retried: [string, number, number][] = [];
    const result = await retry(
      (attempt) => {
        seen.push(attempt);
        return attempt < 3 ? Promise.reject(transient(attempt)) : Promise.resolve('ok');
      },
      {
        attempts: 5,
        baseMs: 100,
        maxMs: 1_000,
        random: () => 0.5,
        sleep: fakeSleep,
        onRetry: (err, attempt, delayMs) => retried.push([(err as Error).message, attempt, delayMs]),
      },
    );
    assert.equal(result, 'ok');
    assert.deepEqual(seen, [1, 2, 3]);
    assert.deepEqual(delays, [50, 100]);
    assert.deepEqual(retried, [
      ['transient 1', 1, 50],
      ['transient 2', 2, 100],
    ]);
  });

  void it('gives up after `attempts` calls and rethrows the last error unchanged', async () => {
    const { delays, sleep: fakeSleep } = recordingSleep();
    const errors: InjectorError[] = [];
    let calls = 0;
    const err = await retry(
      () => {
        calls++;
        const e = transient(calls);
        errors.push(e);
        return Promise.reject(e);
      },
      { attempts: 4, baseMs: 1, maxMs: 10, sleep: fakeSleep },
    ).catch((e: unknown) => e);
    assert.equal(calls, 4);
    assert.equal(delays.length, 3);
    assert.equal(err, errors[3]);
  });

  void it('stops at once on an error that is not retryable', async () => {
    const { delays, sleep: fakeSleep } = recordingSleep();
    const fatal = new InjectorError('401', { retryable: false });
    let calls = 0;
    await assert.rejects(
      retry(
        () => {
          calls++;
          return Promise.reject(fatal);
        },
        { attempts: 5, baseMs: 1, maxMs: 10, sleep: fakeSleep },
      ),
      (e) => e === fatal,
    );
    assert.equal(calls, 1);
    assert.deepEqual(delays, []);
  });

  void it('treats plain errors as not retryable by default, and follows isRetryable when given', async () => {
    let calls = 0;
    const fn = (): Promise<never> => {
      calls++;
      return Promise.reject(new Error('ECONNRESET'));
    };
    await assert.rejects(retry(fn, { attempts: 3, baseMs: 0, maxMs: 0 }), /ECONNRESET/);
    assert.equal(calls, 1);
    calls = 0;
    await assert.rejects(retry(fn, { attempts: 3, baseMs: 0, maxMs: 0, isRetryable: () => true }), /ECONNRESET/);
    assert.equal(calls, 3);
  });

  void it('stops when the signal aborts during a wait, with the last error as cause', async () => {
    const controller = new AbortController();
    let calls = 0;
    const last = transient(1);
    const started = Date.now();
    const err = await retry(
      () => {
        calls++;
        return Promise.reject(last);
      },
      {
        attempts: 5,
        baseMs: 60_000,
        maxMs: 60_000,
        random: () => 0.99,
        signal: controller.signal,
        // Abort as soon as retry starts waiting: the real sleep must give up at once.
        onRetry: () => controller.abort(),
      },
    ).catch((e: unknown) => e);
    assert.ok(err instanceof AbortedError, `expected AbortedError, got ${String(err)}`);
    assert.equal(calls, 1);
    assert.ok(Date.now() - started < 5_000, 'the 59 s wait must have been cut short');
  });

  void it('does not call fn at all when the signal is already aborted', async () => {
    let calls = 0;
    await assert.rejects(
      retry(
        () => {
          calls++;
          return Promise.resolve();
        },
        { attempts: 3, baseMs: 1, maxMs: 1, signal: AbortSignal.abort() },
      ),
      AbortedError,
    );
    assert.equal(calls, 0);
  });

  void it('reports an abort during a call as AbortedError, not as the call’s own error', async () => {
    const controller = new AbortController();
    let calls = 0;
    const err = await retry(
      () => {
        calls++;
        controller.abort();
        return Promise.reject(transient(1));
      },
      { attempts: 3, baseMs: 1, maxMs: 1, signal: controller.signal },
    ).catch((e: unknown) => e);
    assert.ok(err instanceof AbortedError);
    assert.ok(err.cause instanceof InjectorError);
    assert.equal(calls, 1);
  });

  void it('rejects nonsensical options', async () => {
    await assert.rejects(retry(() => Promise.resolve(1), { attempts: 0, baseMs: 1, maxMs: 1 }), RangeError);
    await assert.rejects(retry(() => Promise.resolve(1), { attempts: 1.5, baseMs: 1, maxMs: 1 }), RangeError);
  });
});

void describe('backoffDelay', () => {
  void it('is random × min(maxMs, baseMs × 2^(attempt − 1)), floored', () => {
    assert.equal(backoffDelay(1, 100, 10_000, () => 0.5), 50);
    assert.equal(backoffDelay(4, 100, 10_000, () => 0.5), 400);
    assert.equal(backoffDelay(10, 100, 10_000, () => 0.5), 5_000);
    // Huge attempt numbers stay finite and capped.
    assert.equal(backoffDelay(5_000, 100, 10_000, () => 0.5), 5_000);
  });
});

void describe('sleep', () => {
  void it('resolves after the delay', async () => {
    const started = Date.now();
    await sleep(20);
    assert.ok(Date.now() - started >= 15);
  });

  void it('rejects with AbortedError as soon as the signal aborts', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = sleep(60_000, controller.signal);
    controller.abort();
    await assert.rejects(pending, AbortedError);
    assert.ok(Date.now() - started < 1_000);
  });

  void it('rejects at once on an already aborted signal', async () => {
    await assert.rejects(sleep(60_000, AbortSignal.abort()), AbortedError);
  });
});
