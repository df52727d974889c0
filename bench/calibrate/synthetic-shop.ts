/**
 * The traffic of many synthetic shops, one per experiment, each with a control
 * and an experiment group: the counters and histogram a real shop would export,
 * drawn from a model with the dependence real per-step series have (BRIEF,
 * "valid on the series users really have").
 *
 * Per experiment:
 * - **shared load** L(t): an AR(1) in log space (stationary sd `loadSd`, time
 *   constant `loadTauSec`), the same for both groups, so the groups' rates
 *   move together as they would under a daily cycle or a marketing push;
 * - **overdispersed counts** (sticky sessions): a Poisson number of sessions,
 *   each contributing a geometric number (mean m) of events. The compound count
 *   has variance/mean = 2m − 1 given the load, so `dispersion` 2.5 means
 *   m = 1.75. The sum of k geometrics is drawn in O(1) as k + NegBin(k, 1/m);
 * - **requests** ≈ `requestsPerCheckout` × checkouts, clustered the same way,
 *   split into codes 200 / 404 / 500 (the error ratio a guardrail watches);
 * - **latency**: lognormal per request (median `latencyMedianSec` × L^0.5,
 *   log-sd `latencySigma`), drawn in aggregate: one multinomial over the
 *   histogram buckets per tick, by sequential binomials.
 *
 * A fault multiplies the experiment group's checkout rate by `rateFactor`
 * (1 = no effect, 0.5 = a 50% drop) and its latency by `latencyFactor`, for
 * that experiment only, until `until` (epoch ms) or until it is cleared.
 *
 * Pure and deterministic given the seed and the tick times: no timers, no I/O
 * (the exporter drives it), so tests can compute its statistics offline.
 */
import { Rng } from '../stats/prng.ts';

export const GROUPS = ['control', 'experiment'] as const;
export type ShopGroup = (typeof GROUPS)[number];
export const CODES = ['200', '404', '500'] as const;
/** Upper bounds (seconds) of the latency buckets, 5 ms .. 2 s; +Inf is implied. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2] as const;

export interface SyntheticShopOptions {
  experiments: readonly string[];
  seed: number;
  /** Checkouts per second per group at load 1. Default 100. */
  ratePerGroup?: number;
  /** Variance / mean of a group's count given the load (the cluster effect). Default 2.5. */
  dispersion?: number;
  /** Stationary sd of log load. Default 0.1 (≈ ±20% at two sd). */
  loadSd?: number;
  /** AR(1) time constant of log load, seconds. Default 30. */
  loadTauSec?: number;
  requestsPerCheckout?: number;
  latencyMedianSec?: number;
  latencySigma?: number;
  /** Share of requests answered 500 and 404. */
  errorRatio?: number;
  notFoundRatio?: number;
}

export interface Fault {
  rateFactor: number;
  latencyFactor: number;
  /** Epoch ms; the fault is off from this time on. */
  until: number;
  openedAt: number;
}

/** Cumulative counters of one group, as exported. */
export interface GroupCounters {
  checkouts: number;
  requests: Record<(typeof CODES)[number], number>;
  /** Per bucket (not cumulative), last entry = above the largest bound. */
  buckets: number[];
  latencySum: number;
  latencyCount: number;
}

interface ExperimentState {
  logLoad: number;
  fault: Fault | undefined;
  groups: Record<ShopGroup, GroupCounters>;
}

export interface TickDraw {
  /** Checkouts drawn in this tick, per experiment and group. */
  checkouts: Record<string, Record<ShopGroup, number>>;
  /** Expected checkouts in this tick (given the load and faults), same keys. */
  expected: Record<string, Record<ShopGroup, number>>;
}

function normalCdf(z: number): number {
  // Abramowitz & Stegun 7.1.26 through erf; 1e-7 is plenty for bucket shares.
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

export class SyntheticShop {
  readonly experiments: readonly string[];
  readonly options: Required<Omit<SyntheticShopOptions, 'experiments'>>;
  private readonly rng: Rng;
  private readonly state = new Map<string, ExperimentState>();
  private lastTick: number | undefined;
  private readonly clusterMean: number;

  constructor(opts: SyntheticShopOptions) {
    this.experiments = [...opts.experiments];
    this.options = {
      seed: opts.seed,
      ratePerGroup: opts.ratePerGroup ?? 100,
      dispersion: opts.dispersion ?? 2.5,
      loadSd: opts.loadSd ?? 0.1,
      loadTauSec: opts.loadTauSec ?? 30,
      requestsPerCheckout: opts.requestsPerCheckout ?? 10,
      latencyMedianSec: opts.latencyMedianSec ?? 0.05,
      latencySigma: opts.latencySigma ?? 0.5,
      errorRatio: opts.errorRatio ?? 0.002,
      notFoundRatio: opts.notFoundRatio ?? 0.005,
    };
    if (!(this.options.dispersion >= 1)) throw new Error('dispersion must be at least 1 (1 = Poisson)');
    this.clusterMean = (this.options.dispersion + 1) / 2;
    this.rng = new Rng(opts.seed, 0xca11b);
    for (const exp of this.experiments) {
      // Start each load at a draw from its stationary law, so experiments do not all start at 1.
      this.state.set(exp, { logLoad: this.options.loadSd * this.rng.normal(), fault: undefined, groups: { control: emptyCounters(), experiment: emptyCounters() } });
    }
  }

  has(exp: string): boolean {
    return this.state.has(exp);
  }

  setFault(exp: string, fault: Fault): void {
    this.mustGet(exp).fault = fault;
  }

  /** Clears a fault; true when one was set. */
  clearFault(exp: string): boolean {
    const s = this.mustGet(exp);
    const had = s.fault !== undefined;
    s.fault = undefined;
    return had;
  }

  /** The fault in force at `now`, if any. */
  activeFault(exp: string, now: number): Fault | undefined {
    const f = this.mustGet(exp).fault;
    return f && now < f.until ? f : undefined;
  }

  load(exp: string): number {
    return Math.exp(this.mustGet(exp).logLoad);
  }

  counters(exp: string, group: ShopGroup): Readonly<GroupCounters> {
    return this.mustGet(exp).groups[group];
  }

  /**
   * Advance to `now` (epoch ms): draws the events of the elapsed time, so a
   * late timer yields a longer tick, not a lower rate. The first call only
   * sets the clock.
   */
  tick(now: number): TickDraw {
    const draw: TickDraw = { checkouts: {}, expected: {} };
    const start = this.lastTick ?? now;
    const dtSec = Math.max(0, (now - start) / 1000);
    this.lastTick = now;
    if (dtSec === 0) return draw;
    const o = this.options;
    const phi = Math.exp(-dtSec / o.loadTauSec);
    const innovationSd = o.loadSd * Math.sqrt(1 - phi * phi);
    for (const [exp, s] of this.state) {
      s.logLoad = phi * s.logLoad + innovationSd * this.rng.normal();
      const load = Math.exp(s.logLoad);
      // The share of this tick under the fault, so a fault starts and ends on its own times, not on tick edges.
      const fault = s.fault;
      const faultShare = fault ? Math.max(0, Math.min(now, fault.until) - Math.max(start, fault.openedAt)) / (now - start) : 0;
      draw.checkouts[exp] = { control: 0, experiment: 0 };
      draw.expected[exp] = { control: 0, experiment: 0 };
      for (const group of GROUPS) {
        const c = s.groups[group];
        const share = group === 'experiment' && fault ? faultShare : 0;
        const rateFactor = fault ? 1 - share * (1 - fault.rateFactor) : 1;
        const expected = o.ratePerGroup * load * rateFactor * dtSec;
        const checkouts = this.clustered(expected);
        c.checkouts += checkouts;
        draw.checkouts[exp][group] = checkouts;
        draw.expected[exp][group] = expected;

        const requests = this.clustered(o.ratePerGroup * o.requestsPerCheckout * load * dtSec);
        const errors = this.binomial(requests, o.errorRatio);
        const notFound = this.binomial(requests - errors, o.notFoundRatio / (1 - o.errorRatio));
        c.requests['500'] += errors;
        c.requests['404'] += notFound;
        c.requests['200'] += requests - errors - notFound;

        const median = o.latencyMedianSec * Math.sqrt(load) * (fault && share > 0.5 ? fault.latencyFactor : 1);
        this.drawLatencies(c, requests, median);
      }
    }
    return draw;
  }

  /** Compound Poisson–geometric count with mean `expected` and variance/mean `dispersion`. */
  clustered(expected: number): number {
    if (expected <= 0) return 0;
    const m = this.clusterMean;
    const sessions = this.rng.poisson(expected / m);
    if (sessions === 0 || m === 1) return sessions;
    // Sum of `sessions` geometrics on {1, 2, …} with mean m = sessions + NegBin(sessions, 1/m) failures.
    const p = 1 / m;
    return sessions + this.rng.poisson((this.rng.gamma(sessions) * (1 - p)) / p);
  }

  /** Binomial(n, p): exact for small n, Poisson or normal approximations above (good enough for traffic). */
  binomial(n: number, p: number): number {
    if (n <= 0 || p <= 0) return 0;
    if (p >= 1) return n;
    if (n <= 40) {
      let k = 0;
      for (let i = 0; i < n; i++) if (this.rng.uniform() < p) k++;
      return k;
    }
    const mean = n * p;
    if (mean < 15) return Math.min(n, this.rng.poisson(mean));
    if (n - mean < 15) return Math.max(0, n - this.rng.poisson(n - mean));
    const k = Math.round(mean + Math.sqrt(mean * (1 - p)) * this.rng.normal());
    return Math.min(n, Math.max(0, k));
  }

  private drawLatencies(c: GroupCounters, n: number, median: number): void {
    if (n === 0) return;
    const sigma = this.options.latencySigma;
    let left = n;
    let leftProb = 1;
    let below = 0;
    for (let i = 0; i < LATENCY_BUCKETS.length && left > 0; i++) {
      const cdf = normalCdf((Math.log(LATENCY_BUCKETS[i]!) - Math.log(median)) / sigma);
      const share = Math.max(0, cdf - below);
      below = Math.max(below, cdf);
      const k = leftProb <= 0 ? 0 : this.binomial(left, Math.min(1, share / leftProb));
      c.buckets[i]! += k;
      left -= k;
      leftProb -= share;
    }
    c.buckets[LATENCY_BUCKETS.length]! += left;
    c.latencyCount += n;
    c.latencySum += n * median * Math.exp((sigma * sigma) / 2);
  }

  private mustGet(exp: string): ExperimentState {
    const s = this.state.get(exp);
    if (!s) throw new Error(`unknown experiment "${exp}"`);
    return s;
  }
}

function emptyCounters(): GroupCounters {
  return { checkouts: 0, requests: { '200': 0, '404': 0, '500': 0 }, buckets: new Array<number>(LATENCY_BUCKETS.length + 1).fill(0), latencySum: 0, latencyCount: 0 };
}

/** The Prometheus text exposition (0.0.4) of every experiment's counters. */
export function exposition(shop: SyntheticShop): string {
  const lines: string[] = [
    '# HELP shop_checkouts_total Checkouts completed.',
    '# TYPE shop_checkouts_total counter',
  ];
  for (const exp of shop.experiments) {
    for (const group of GROUPS) lines.push(`shop_checkouts_total{exp="${exp}",group="${group}"} ${shop.counters(exp, group).checkouts}`);
  }
  lines.push('# HELP http_requests_total HTTP requests by status code.', '# TYPE http_requests_total counter');
  for (const exp of shop.experiments) {
    for (const group of GROUPS) {
      const c = shop.counters(exp, group);
      for (const code of CODES) lines.push(`http_requests_total{exp="${exp}",group="${group}",code="${code}"} ${c.requests[code]}`);
    }
  }
  lines.push('# HELP http_request_duration_seconds Request latency.', '# TYPE http_request_duration_seconds histogram');
  for (const exp of shop.experiments) {
    for (const group of GROUPS) {
      const c = shop.counters(exp, group);
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((le, i) => {
        cumulative += c.buckets[i]!;
        lines.push(`http_request_duration_seconds_bucket{exp="${exp}",group="${group}",le="${le}"} ${cumulative}`);
      });
      lines.push(`http_request_duration_seconds_bucket{exp="${exp}",group="${group}",le="+Inf"} ${c.latencyCount}`);
      lines.push(`http_request_duration_seconds_sum{exp="${exp}",group="${group}"} ${c.latencySum}`);
      lines.push(`http_request_duration_seconds_count{exp="${exp}",group="${group}"} ${c.latencyCount}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
