/**
 * Which traffic group a request belongs to.
 *
 * A request's sticky key (a user id header, else the client address) is hashed
 * into one of 10 000 buckets; the first `control` buckets are the control
 * group, the next `experiment` buckets the experiment group, the rest `none`.
 * Sticky, so one user sees one group for the whole experiment (a user bouncing
 * between groups would blur the comparison); hashed rather than sampled per
 * request, so no state is kept and every proxy replica agrees.
 *
 * SHA-1 rather than a 32-bit FNV: FNV-1a's low bits are weak on short,
 * sequential keys (`user-1`, `user-2`, …) and the bucket is taken modulo
 * 10 000, so those bits matter. SHA-1 costs about a microsecond here and is
 * the same in every language, so a service can compute its own group if it
 * ever needs to. Not a security boundary: a client who can pick its key can
 * pick its group, which is why the key should be a server-issued identity.
 */
import { createHash } from 'node:crypto';

export type Group = 'control' | 'experiment' | 'none';

/** Header the proxy sets on every forwarded request; any client-sent value is overwritten. */
export const GROUP_HEADER = 'x-steadystate-group';

/** Buckets per 100 %: group shares have a resolution of 0.01 %. */
export const BUCKETS = 10_000;

/** Stable bucket in [0, 10 000) of a sticky key. */
export function bucketOf(key: string): number {
  const digest = createHash('sha1').update(key).digest();
  // 2^32 mod 10 000 = 7 296, so the modulo bias is below 2e-6: negligible.
  return digest.readUInt32BE(0) % BUCKETS;
}

/** Group shares as bucket counts; percentages are rounded to 0.01 %. */
export interface GroupSplit {
  controlBuckets: number;
  experimentBuckets: number;
}

export function splitFromPercents(controlPercent: number, experimentPercent: number): GroupSplit {
  return {
    controlBuckets: Math.round(controlPercent * (BUCKETS / 100)),
    experimentBuckets: Math.round(experimentPercent * (BUCKETS / 100)),
  };
}

export function groupOfBucket(bucket: number, split: GroupSplit): Group {
  if (bucket < split.controlBuckets) return 'control';
  if (bucket < split.controlBuckets + split.experimentBuckets) return 'experiment';
  return 'none';
}

export function assignGroup(key: string, split: GroupSplit): Group {
  return groupOfBucket(bucketOf(key), split);
}

/**
 * `assignGroup` behind a bounded memo: the proxy sees the same few thousand
 * sticky keys over and over, and a Map lookup is a tenth of a SHA-1. Cleared
 * when full rather than evicted one by one: recomputing is cheap, bookkeeping
 * on every hit is not.
 */
export function createGroupAssigner(split: GroupSplit, maxKeys = 16_384): (key: string) => Group {
  const memo = new Map<string, Group>();
  return (key) => {
    let group = memo.get(key);
    if (group === undefined) {
      group = assignGroup(key, split);
      if (memo.size >= maxKeys) memo.clear();
      memo.set(key, group);
    }
    return group;
  };
}
