import { describe, expect, it } from 'vitest';
import { batches, batchSql, DEFAULT_PLAN_MIX, parseMix, planCaseSql } from './users.ts';

describe('seed users helpers', () => {
  it('parses a plan mix and refuses bad names, weights and duplicates', () => {
    expect(parseMix('free:90, pro:9,team:1')).toEqual([
      ['free', 90],
      ['pro', 9],
      ['team', 1],
    ]);
    expect(() => parseMix("free:90,x';drop:1")).toThrow(/bad plan name/);
    expect(() => parseMix('free:0')).toThrow(/bad weight/);
    expect(() => parseMix('free:1,free:2')).toThrow(/twice/);
  });

  it('builds cumulative thresholds, the last plan as ELSE', () => {
    expect(planCaseSql(parseMix('free:90,pro:9,team:1'))).toBe(
      "CASE WHEN r < 0.900000 THEN 'free' WHEN r < 0.990000 THEN 'pro' ELSE 'team' END",
    );
    expect(planCaseSql([['free', 3]])).toBe("'free'");
    expect(batchSql(DEFAULT_PLAN_MIX)).toContain("CASE WHEN r < 0.900000 THEN 'free' ELSE 'pro' END");
  });

  it('covers 1..count in inclusive batches', () => {
    expect(batches(5, 2)).toEqual([
      [1, 2],
      [3, 4],
      [5, 5],
    ]);
    expect(batches(4, 10)).toEqual([[1, 4]]);
    expect(batches(0, 10)).toEqual([]);
  });
});
