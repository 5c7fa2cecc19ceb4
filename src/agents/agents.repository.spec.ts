import type { Connection, Model } from 'mongoose';
import { describe, expect, it, vi } from 'vitest';
import { DatabaseCapabilities } from '../infra/mongo/database-capabilities.js';
import { AgentsRepository } from './agents.repository.js';
import type { Agent } from './schemas/agent.schema.js';

const USER_ID = '64f8a1b2c3d4e5f6a7b8c9d0';

/** A stand-in for the Mongoose model: records the list query; the server has a text index or not. */
function fakeAgentsModel(textIndex: boolean) {
  const queries: Array<Record<string, unknown>> = [];
  const chain = {
    sort: () => chain,
    skip: () => chain,
    limit: () => chain,
    lean: () => chain,
    exec: () => Promise.resolve([]),
  };
  const model = {
    find: (query: Record<string, unknown>) => {
      queries.push(query);
      return chain;
    },
    countDocuments: () => ({ exec: () => Promise.resolve(0) }),
  };
  return {
    repository: new AgentsRepository(
      model as unknown as Model<Agent>,
      new DatabaseCapabilities(textIndex),
    ),
    queries,
  };
}

/** A stand-in for the connection: the agents collection reports the given indexes. */
function fakeConnection(indexes: () => Promise<Array<{ name?: string }>>) {
  const listIndexes = vi.fn(indexes);
  const connection = { collection: () => ({ indexes: listIndexes }) };
  return { connection: connection as unknown as Connection, listIndexes };
}

const withTextIndex = () =>
  Promise.resolve([{ name: '_id_' }, { name: 'userId_1_createdAt_-1' }, { name: 'name_text' }]);
const withoutTextIndex = () =>
  Promise.resolve([{ name: '_id_' }, { name: 'userId_1_createdAt_-1' }]);

/** The regular expression a name-prefix condition asks the server to run. */
function regexOf(condition: Record<string, unknown>): RegExp {
  const { $regex, $options } = condition.name as { $regex: string; $options: string };
  return new RegExp($regex, $options);
}

describe('AgentsRepository search', () => {
  const { repository } = fakeAgentsModel(false);

  describe('with a text index', () => {
    it('searches with $text, passing the words as given', () => {
      expect(repository.searchCondition('text-index', 'support bot')).toEqual({
        $text: { $search: 'support bot' },
      });
    });
  });

  describe('without a text index (name-prefix fallback)', () => {
    it('builds an anchored, case-insensitive regex on the name', () => {
      expect(repository.searchCondition('name-prefix', 'sup')).toEqual({
        name: { $regex: '^sup', $options: 'i' },
      });
    });

    it('matches names starting with the text in any case, and nothing else', () => {
      const regex = regexOf(repository.searchCondition('name-prefix', 'sup'));
      expect(regex.test('Support Bot')).toBe(true);
      expect(regex.test('SUPERVISOR')).toBe(true);
      expect(regex.test('My Support')).toBe(false);
    });

    it('escapes every regular-expression metacharacter', () => {
      const condition = repository.searchCondition('name-prefix', '.*+?^${}()|[]\\');
      expect(condition).toEqual({
        name: { $regex: '^\\.\\*\\+\\?\\^\\$\\{\\}\\(\\)\\|\\[\\]\\\\', $options: 'i' },
      });
      expect(regexOf(condition).test('.*+?^${}()|[]\\ literally')).toBe(true);
    });

    it('makes ".*" match only names that start with those two characters', () => {
      const regex = regexOf(repository.searchCondition('name-prefix', '.*'));
      expect(regex.test('Support Bot')).toBe(false);
      expect(regex.test('.* literal')).toBe(true);
    });
  });
});

describe('DatabaseCapabilities.detect (agent search)', () => {
  it('uses the text index when the agents collection has one', async () => {
    const { connection } = fakeConnection(withTextIndex);
    expect((await DatabaseCapabilities.detect(connection)).agentNameTextSearch).toBe(true);
  });

  it('falls back to the name prefix when the server has no text index', async () => {
    const { connection } = fakeConnection(withoutTextIndex);
    expect((await DatabaseCapabilities.detect(connection)).agentNameTextSearch).toBe(false);
  });

  it('falls back when the indexes cannot be read', async () => {
    const { connection, listIndexes } = fakeConnection(() =>
      Promise.reject(new Error('connection lost')),
    );
    expect((await DatabaseCapabilities.detect(connection)).agentNameTextSearch).toBe(false);
    expect(listIndexes).toHaveBeenCalledTimes(1);
  });
});

describe('AgentsRepository.list', () => {
  const page = { page: 1, limit: 20 };

  it('scopes to the user and adds the $text condition on a server with a text index', async () => {
    const { repository, queries } = fakeAgentsModel(true);
    await repository.list(USER_ID, { search: 'support', isActive: true }, page);
    expect(queries[0]).toMatchObject({ isActive: true, $text: { $search: 'support' } });
    expect(String(queries[0]?.userId)).toBe(USER_ID);
  });

  it('adds the escaped name-prefix condition on a server without one', async () => {
    const { repository, queries } = fakeAgentsModel(false);
    await repository.list(USER_ID, { search: 'a.b' }, page);
    expect(queries[0]).toMatchObject({ name: { $regex: '^a\\.b', $options: 'i' } });
    expect(queries[0]).not.toHaveProperty('$text');
    expect(queries[0]).not.toHaveProperty('isActive');
  });

  it('adds no search condition without a search', async () => {
    const { repository, queries } = fakeAgentsModel(true);
    await repository.list(USER_ID, {}, page);
    expect(Object.keys(queries[0] ?? {})).toEqual(['userId']);
  });
});
