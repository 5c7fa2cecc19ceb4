import { type Db, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { uniqueName } from './support/test-app.js';

/**
 * The development server answers lookups by an indexed field from an index, as MongoDB does.
 * On PostgreSQL, FerretDB pushes an equality filter down as jsonb containment, which its
 * btree indexes cannot answer; the embedded tool gives each of them a GIN companion that can
 * (tools/ferretdb/lookup_indexes.go). MongoDB's own plans are checked the same way.
 */
describe('lookups by an indexed field on the MongoDB-wire server', () => {
  const kind = inject('mongoServerKind');
  let client: MongoClient;
  let db: Db;

  beforeAll(async () => {
    client = await new MongoClient(inject('mongoServerUri')).connect();
    db = client.db(uniqueName('lookups'));
    const calls = db.collection('calls');
    await calls.createIndex({ callSid: 1 }, {}, {});
    await calls.createIndex({ userId: 1, createdAt: -1 }, {}, {});
    await calls.createIndex({ labels: 1 }, {}, {});
    await calls.insertMany(
      Array.from({ length: 60 }, (_, index) => ({
        callSid: `CA${index}`,
        userId: `user-${index % 3}`,
        createdAt: new Date(Date.UTC(2026, 0, 1, 0, index)),
        labels: [`label-${index}`, 'all'],
        note: `note-${index}`,
      })),
    );
  });

  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
  });

  async function planOf(filter: Record<string, unknown>): Promise<string> {
    const explained = await db.command({ explain: { find: 'calls', filter } });
    return JSON.stringify(explained.queryPlanner);
  }

  it('finds by indexed fields, arrays included, with the same answers as a scan', async () => {
    const calls = db.collection('calls');
    expect((await calls.findOne({ callSid: 'CA42' }))?.note).toBe('note-42');
    expect(await calls.countDocuments({ userId: 'user-1' })).toBe(20);
    // An equality filter on an array field matches an element, index or not.
    expect((await calls.findOne({ labels: 'label-7' }))?.callSid).toBe('CA7');
    expect(await calls.countDocuments({ labels: 'all' })).toBe(60);
    expect(await calls.countDocuments({ callSid: 'CA-none' })).toBe(0);
  });

  it('plans them on an index, and a field without one as a scan', async () => {
    const indexed = await planOf({ callSid: 'CA42' });
    const compound = await planOf({ userId: 'user-1' });
    const array = await planOf({ labels: 'label-7' });
    const unindexed = await planOf({ note: 'note-42' });
    switch (kind) {
      case 'ferretdb-postgresql':
        for (const [plan, field] of [
          [indexed, 'callSid'],
          [compound, 'userId'],
          [array, 'labels'],
        ]) {
          expect(plan).toMatch(new RegExp(`"Index Cond":"[^"]*'${field}'`));
        }
        expect(unindexed).toContain('Seq Scan');
        expect(unindexed).not.toContain('Index Cond');
        break;
      case 'ferretdb-sqlite':
        // FerretDB on SQLite pushes down nothing but _id (see README's development table):
        // every other filter scans, indexed or not.
        for (const plan of [indexed, compound, array, unindexed]) {
          expect(plan).toMatch(/SCAN/);
        }
        break;
      case 'mongod':
      case 'given':
        for (const plan of [indexed, compound, array]) {
          expect(plan).toContain('IXSCAN');
        }
        expect(unindexed).toContain('COLLSCAN');
    }
  });
});
