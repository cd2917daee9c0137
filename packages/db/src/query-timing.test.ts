import { expect, it } from 'vitest';
import { createQueryTimer, statementVerb } from './query-timing.ts';

it('labels statements by verb only, so the label set stays bounded', () => {
  expect(statementVerb('SELECT 1')).toBe('select');
  expect(statementVerb({ text: '  insert into t values ($1)' })).toBe('insert');
  expect(statementVerb('with x as (select 1) update t set a = 1')).toBe('update');
  expect(statementVerb('CREATE TABLE secret_name_123 (id int)')).toBe('other');
  expect(statementVerb(42)).toBe('other');
});

it('times promise queries, including failed ones, once an observer is attached', async () => {
  const timer = createQueryTimer();
  const client = { query: async (text: string) => (text.includes('fail') ? Promise.reject(new Error('x')) : 'ok') };
  timer.wrap(client);
  const seen: string[] = [];
  expect(await client.query('select 1')).toBe('ok'); // no observer yet
  timer.observe((op) => seen.push(op));
  await client.query('delete from t');
  await expect(client.query('select fail')).rejects.toThrow('x');
  expect(seen).toEqual(['delete', 'select']);
});
