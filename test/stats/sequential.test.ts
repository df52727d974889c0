/**
 * The sequential tests as the guardrail monitor uses them: one look at a time,
 * state persisted as JSON between looks. What must hold for every method:
 *   - the state survives JSON.stringify/JSON.parse unchanged, and continuing
 *     from the parsed copy gives exactly what continuing from the original does;
 *   - feeding the looks one at a time equals feeding them all at once;
 *   - both p-values never increase, the confidence sequence never widens;
 *   - stoppedAt is the first look whose p-value is ≤ alpha;
 * and, per method, that it detects what it should and not what it should not.
 * The calibration proper (false-alarm rates, power) is `npm run bench:stats`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { StatsInputError } from '../../src/stats/errors.ts';
import {
  initSequentialMean,
  resultSequentialMean,
  sequentialMean,
  updateSequentialMean,
  type MeanObservation,
  type SequentialMeanParams,
} from '../../src/stats/sequential-mean.ts';
import {
  initSequentialProportion,
  resultSequentialProportion,
  sequentialProportion,
  updateSequentialProportion,
  type ProportionObservation,
  type SequentialProportionParams,
} from '../../src/stats/sequential-proportion.ts';
import {
  initSequentialRate,
  resultSequentialRate,
  sequentialRate,
  updateSequentialRate,
  type RateObservation,
  type SequentialRateParams,
} from '../../src/stats/sequential-rate.ts';
import type { SequentialResult } from '../../src/stats/sequential-types.ts';
import { Rng } from '../../bench/stats/prng.ts';

interface Api<P, S, O> {
  name: string;
  init: (p: P) => S;
  update: (s: S, o: O) => S;
  result: (s: S) => SequentialResult;
  all: (looks: readonly O[], p: P) => SequentialResult;
}

const rateApi: Api<SequentialRateParams, ReturnType<typeof initSequentialRate>, RateObservation> = {
  name: 'sequential-rate',
  init: initSequentialRate,
  update: updateSequentialRate,
  result: resultSequentialRate,
  all: sequentialRate,
};
const meanApi: Api<SequentialMeanParams, ReturnType<typeof initSequentialMean>, MeanObservation> = {
  name: 'sequential-mean',
  init: initSequentialMean,
  update: updateSequentialMean,
  result: resultSequentialMean,
  all: sequentialMean,
};
const proportionApi: Api<SequentialProportionParams, ReturnType<typeof initSequentialProportion>, ProportionObservation> = {
  name: 'sequential-proportion',
  init: initSequentialProportion,
  update: updateSequentialProportion,
  result: resultSequentialProportion,
  all: sequentialProportion,
};

function rateLooks(seed: number, n: number, ratio: number, base = 50): RateObservation[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => ({ control: rng.poisson(base), experiment: rng.poisson(base * ratio) }));
}

function meanLooks(seed: number, n: number, shift: number): MeanObservation[] {
  const rng = new Rng(seed);
  let ar = 0;
  return Array.from({ length: n }, () => {
    ar = 0.6 * ar + rng.normal();
    const load = 100 + 5 * ar;
    return { control: load + 3 * rng.normal(), experiment: load + shift + 3 * rng.normal() };
  });
}

function proportionLooks(seed: number, n: number, ratio: number): ProportionObservation[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const tc = rng.poisson(1000);
    const te = rng.poisson(1000);
    return { control: { errors: rng.poisson(tc * 0.01), total: tc }, experiment: { errors: rng.poisson(te * 0.01 * ratio), total: te } };
  });
}

function contract<P, S, O>(api: Api<P, S, O>, params: P, looks: O[]): void {
  void describe(`${api.name}: one look at a time`, () => {
    void it('state round-trips through JSON, and continuing from the copy changes nothing', () => {
      let s = api.init(params);
      for (let i = 0; i < looks.length; i++) {
        const copy = JSON.parse(JSON.stringify(s)) as S;
        assert.deepEqual(copy, s, `look ${i}`);
        const fromCopy = api.update(copy, looks[i]!);
        s = api.update(s, looks[i]!);
        assert.deepEqual(fromCopy, s, `look ${i}`);
        assert.deepEqual(api.result(fromCopy), api.result(s));
      }
    });

    void it('feeding looks one at a time, with the state persisted between them, equals feeding them all at once', () => {
      let stored = JSON.stringify(api.init(params));
      for (const o of looks) stored = JSON.stringify(api.update(JSON.parse(stored) as S, o));
      assert.deepEqual(api.result(JSON.parse(stored) as S), api.all(looks, params));
    });

    void it('update does not modify the state it is given', () => {
      let s = api.init(params);
      for (const o of looks.slice(0, 40)) {
        const before = JSON.stringify(s);
        const next = api.update(s, o);
        assert.equal(JSON.stringify(s), before);
        s = next;
      }
    });

    void it('p-values never increase, the confidence sequence never widens, stoppedAt is the first look with p ≤ alpha', () => {
      let s = api.init(params);
      let prev = api.result(s);
      let firstReject: number | null = null;
      for (let i = 0; i < looks.length; i++) {
        s = api.update(s, looks[i]!);
        const r = api.result(s);
        assert.equal(r.n, i + 1);
        assert.ok(r.pValue <= prev.pValue, `look ${i}: p ${r.pValue} > ${prev.pValue}`);
        assert.ok(r.safetyPValue <= prev.safetyPValue, `look ${i}: safety p went up`);
        assert.ok(r.pValue >= 0 && r.pValue <= 1 && r.safetyPValue >= 0 && r.safetyPValue <= 1);
        assert.ok(r.ci[0] <= r.ci[1], `look ${i}: empty interval ${String(r.ci)}`);
        if (firstReject === null && r.pValue <= r.alpha) firstReject = i;
        assert.equal(r.stoppedAt, firstReject);
        prev = r;
      }
    });
  });
}

contract(rateApi, { direction: 'decrease', tolerance: 0.02 }, rateLooks(1, 120, 0.85));
contract(rateApi, { direction: 'either', dispersion: 'poisson' }, rateLooks(2, 80, 1));
contract(meanApi, { direction: 'increase', tolerance: { kind: 'relative', value: 0.01 } }, meanLooks(3, 150, 4));
contract(meanApi, { direction: 'either' }, meanLooks(4, 100, 0));
contract(proportionApi, { direction: 'increase', tolerance: 0.1 }, proportionLooks(5, 150, 1.6));
contract(proportionApi, { direction: 'either' }, proportionLooks(6, 100, 1));

void describe('sequential-rate: rate ratio given the split (Lindon & Malek)', () => {
  void it('a 20% drop fails within a few dozen looks; the estimate and interval are on the ratio', () => {
    const r = sequentialRate(rateLooks(10, 200, 0.8), { direction: 'decrease' });
    assert.equal(r.verdict, 'fail');
    assert.ok(r.stoppedAt !== null && r.stoppedAt < 60, `stoppedAt ${r.stoppedAt}`);
    assert.ok(Math.abs(r.estimate! - 0.8) < 0.03, `estimate ${r.estimate}`);
    assert.ok(r.ci[0] < 0.8 && 0.8 < r.ci[1], `ci ${String(r.ci)}`);
    assert.ok(r.ci[1] < 1);
  });

  void it('a rise is not harmful for `decrease`, and fails `increase`', () => {
    const looks = rateLooks(11, 200, 1.2);
    assert.notEqual(sequentialRate(looks, { direction: 'decrease' }).verdict, 'fail');
    assert.equal(sequentialRate(looks, { direction: 'increase' }).verdict, 'fail');
  });

  void it('tests against the tolerance boundary: a 3% drop fails at 0% tolerance, passes at 10%', () => {
    const looks = rateLooks(12, 1500, 0.97, 200);
    assert.equal(sequentialRate(looks, { direction: 'decrease', tolerance: 0 }).verdict, 'fail');
    const tolerant = sequentialRate(looks, { direction: 'decrease', tolerance: 0.1 });
    assert.equal(tolerant.stoppedAt, null);
    assert.equal(tolerant.verdict, 'pass');
    assert.ok(tolerant.safetyPValue <= 0.05);
  });

  void it('the traffic split is the null: 25% of the traffic with a quarter of the events is no change', () => {
    const rng = new Rng(13);
    const looks = Array.from({ length: 300 }, () => ({ control: rng.poisson(300), experiment: rng.poisson(100) }));
    const r = sequentialRate(looks, { split: 0.25, direction: 'either' });
    assert.equal(r.stoppedAt, null);
    assert.ok(r.ci[0] < 1 && r.ci[1] > 1);
    assert.ok(Math.abs(r.estimate! - 1) < 0.03);
    // Read with the wrong split, the same data is a 67% drop.
    assert.equal(sequentialRate(looks, { split: 0.5, direction: 'decrease' }).verdict, 'fail');
  });

  void it('reads bursty (overdispersed) counts through their dispersion', () => {
    const rng = new Rng(14);
    const looks = Array.from({ length: 400 }, () => ({ control: rng.negativeBinomial(100, 10), experiment: rng.negativeBinomial(100, 10) }));
    let s = initSequentialRate({ direction: 'either' });
    for (const o of looks) s = updateSequentialRate(s, o);
    assert.ok(s.dispersion > 5 && s.dispersion < 20, `dispersion ${s.dispersion}`); // 1 + 100/10 = 11
    let p = initSequentialRate({ direction: 'either', dispersion: 'poisson' });
    for (const o of looks) p = updateSequentialRate(p, o);
    const wide = resultSequentialRate(s).ci;
    const narrow = resultSequentialRate(p).ci;
    assert.ok(wide[1] - wide[0] > 2 * (narrow[1] - narrow[0]), `${String(wide)} vs ${String(narrow)}`);
  });

  void it('with exact Poisson counts and no burn-in, the A/A false-alarm rate stays below alpha (300 runs of 150 looks)', () => {
    let alarms = 0;
    for (let run = 0; run < 300; run++) {
      if (sequentialRate(rateLooks(1000 + run, 150, 1, 30), { direction: 'either', dispersion: 'poisson' }).stoppedAt !== null) alarms++;
    }
    // Ville's inequality bounds it by 5%; 0.09 leaves room for Monte-Carlo noise (SE 1.3%).
    assert.ok(alarms / 300 <= 0.09, `${alarms} / 300`);
  });

  void it('looks with no events change nothing but the look count', () => {
    const looks = rateLooks(15, 50, 0.9);
    const padded = looks.flatMap((o) => [o, { control: 0, experiment: 0 }]);
    const a = sequentialRate(looks, { direction: 'decrease', dispersion: 'poisson' });
    const b = sequentialRate(padded, { direction: 'decrease', dispersion: 'poisson' });
    assert.equal(b.n, 2 * a.n);
    assert.equal(b.pValue, a.pValue);
    assert.deepEqual(b.ci, a.ci);
  });

  void it('rejects impossible input', () => {
    assert.throws(() => initSequentialRate({ split: 1 }), StatsInputError);
    assert.throws(() => initSequentialRate({ alpha: 0 }), StatsInputError);
    assert.throws(() => initSequentialRate({ tolerance: { kind: 'absolute', value: 3 } }), StatsInputError);
    assert.equal(initSequentialRate({ tolerance: { kind: 'relative', value: 0.05 } }).params.tolerance, 0.05);
    assert.throws(() => initSequentialRate({ direction: 'decrease', tolerance: 1 }), StatsInputError);
    assert.throws(() => updateSequentialRate(initSequentialRate(), { control: -1, experiment: 2 }), StatsInputError);
    assert.throws(() => updateSequentialRate(initSequentialRate(), { control: NaN, experiment: 2 }), StatsInputError);
  });
});

void describe('sequential-mean: per-step differences with a long-run variance', () => {
  void it('a +4 shift on autocorrelated per-step values fails `increase`, with the interval around it', () => {
    const r = sequentialMean(meanLooks(20, 300, 4), { direction: 'increase' });
    assert.equal(r.verdict, 'fail');
    assert.ok(Math.abs(r.estimate! - 4) < 1, `estimate ${r.estimate}`);
    assert.ok(r.ci[0] < 4 && 4 < r.ci[1], `ci ${String(r.ci)}`);
  });

  void it('never rejects before minLooks', () => {
    const r = sequentialMean(meanLooks(21, 300, 40), { direction: 'increase', minLooks: 50 });
    assert.equal(r.stoppedAt, 49);
  });

  void it('relative tolerance is tested exactly on e − (1 + t)·c: +3% fails a 1% band, not a 5% band, which it passes', () => {
    const looks = meanLooks(22, 2000, 3);
    assert.equal(sequentialMean(looks, { direction: 'increase', tolerance: { kind: 'relative', value: 0.01 } }).verdict, 'fail');
    const wide = sequentialMean(looks, { direction: 'increase', tolerance: { kind: 'relative', value: 0.05 } });
    assert.equal(wide.stoppedAt, null);
    assert.equal(wide.verdict, 'pass');
    assert.equal(wide.boundary.upper !== null && Math.abs(wide.boundary.upper - 5) < 0.2, true);
  });

  void it('an absolute band: +3 is harmful beyond 1, not beyond 10', () => {
    const looks = meanLooks(23, 1500, 3);
    assert.equal(sequentialMean(looks, { direction: 'increase', tolerance: { kind: 'absolute', value: 1 } }).verdict, 'fail');
    assert.equal(sequentialMean(looks, { direction: 'increase', tolerance: { kind: 'absolute', value: 10 } }).verdict, 'pass');
  });

  void it('sees autocorrelation: its variance exceeds the naive one on an AR(1) series', () => {
    let s = initSequentialMean();
    const rng = new Rng(24);
    let a = 0;
    for (let i = 0; i < 2000; i++) {
      a = 0.8 * a + rng.normal();
      s = updateSequentialMean(s, { control: 0, experiment: a });
    }
    // AR(1) with φ = 0.8 and unit innovations: γ(0) = 2.78, long-run variance 25.
    assert.ok(s.variance! > 15, `variance ${s.variance}`);
  });

  void it('rejects non-finite values', () => {
    assert.throws(() => updateSequentialMean(initSequentialMean(), { control: NaN, experiment: 1 }), StatsInputError);
    assert.throws(() => initSequentialMean({ minBatches: 1 }), StatsInputError);
  });
});

void describe('sequential-proportion: error-rate ratio (Mantel–Haenszel per look)', () => {
  void it('1.6× the errors fails `increase`; the estimate is the ratio of error rates', () => {
    const r = sequentialProportion(proportionLooks(30, 300, 1.6), { direction: 'increase' });
    assert.equal(r.verdict, 'fail');
    assert.ok(Math.abs(r.estimate! - 1.6) < 0.15, `estimate ${r.estimate}`);
    assert.ok(r.ci[0] < 1.6 && 1.6 < r.ci[1], `ci ${String(r.ci)}`);
  });

  void it('the estimate weighs each look by its traffic, so an uneven split is no change', () => {
    const rng = new Rng(31);
    const looks = Array.from({ length: 400 }, (_, t) => {
      const tc = 500 + 400 * Math.sin(t / 10) ** 2;
      const te = 1000 - tc;
      return { control: { errors: rng.poisson(tc * 0.02), total: Math.round(tc) }, experiment: { errors: rng.poisson(te * 0.02), total: Math.round(te) } };
    });
    const r = sequentialProportion(looks, { direction: 'either' });
    assert.equal(r.stoppedAt, null);
    assert.ok(Math.abs(r.estimate! - 1) < 0.1, `estimate ${r.estimate}`);
  });

  void it('one burst of errors in the experiment does not fail it', () => {
    const looks = proportionLooks(32, 200, 1);
    looks[100] = { control: looks[100]!.control, experiment: { errors: 300, total: 1000 } };
    assert.equal(sequentialProportion(looks, { direction: 'increase' }).verdict !== 'fail', true);
  });

  void it('rejects errors above requests', () => {
    assert.throws(() => updateSequentialProportion(initSequentialProportion(), { control: { errors: 5, total: 4 }, experiment: { errors: 0, total: 1 } }), StatsInputError);
  });
});

void describe('properties (fast-check)', () => {
  void it('any sequence of counts: p-values are monotone and the state is JSON-stable', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ control: fc.nat(500), experiment: fc.nat(500) }), { maxLength: 60 }), fc.constantFrom('increase', 'decrease', 'either'), (looks, direction) => {
        let s = initSequentialRate({ direction, minLooks: 1 });
        let p = 1;
        for (const o of looks) {
          s = updateSequentialRate(s, o);
          assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
          const r = resultSequentialRate(s);
          assert.ok(r.pValue <= p && !Number.isNaN(r.pValue));
          assert.ok(r.ci[0] <= r.ci[1]);
          p = r.pValue;
        }
      }),
      { numRuns: 200 },
    );
  });

  void it('any sequence of values: the mean test never yields NaN and its state is JSON-stable', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ control: fc.double({ min: -1e6, max: 1e6, noNaN: true }), experiment: fc.double({ min: -1e6, max: 1e6, noNaN: true }) }), { maxLength: 80 }), (looks) => {
        let s = initSequentialMean({ minLooks: 2, minBatches: 2 });
        for (const o of looks) {
          s = updateSequentialMean(s, o);
          assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
        }
        const r = resultSequentialMean(s);
        assert.ok(!Number.isNaN(r.pValue) && !Number.isNaN(r.ci[0]) && !Number.isNaN(r.ci[1]));
      }),
      { numRuns: 200 },
    );
  });
});
