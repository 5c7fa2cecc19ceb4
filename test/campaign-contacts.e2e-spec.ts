import { randomInt } from 'node:crypto';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DISPATCH_SCHEDULER_ID } from '../src/campaigns/campaign-dispatch.processor.js';
import { Queues } from '../src/infra/queue/queues.js';
import { randomIndianNumber } from './support/catalogue-factories.js';
import {
  CAMPAIGN_QUEUES,
  type CampaignLine,
  type CampaignRig,
  startCampaignRig,
} from './support/campaign-rig.js';
import { call, type CallResult } from './support/http.js';
import { waitFor } from './support/wait-for.js';
import { waitForQueuesDrained } from './support/wait-for-queue.js';

const BOUNDARY = 'contacts-e2e-7f3a9c';

/** A multipart/form-data body: the text fields first, then the CSV as the file part `file`. */
function multipart(
  csv: string,
  fields: Record<string, string> = {},
): { body: string; contentType: string } {
  const parts = Object.entries(fields).map(
    ([name, value]) =>
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
  );
  parts.push(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="contacts.csv"\r\n` +
      `Content-Type: text/csv\r\n\r\n${csv}\r\n`,
  );
  parts.push(`--${BOUNDARY}--\r\n`);
  return { body: parts.join(''), contentType: `multipart/form-data; boundary=${BOUNDARY}` };
}

/** Sends `csv` as a multipart upload to `url`. */
function upload(
  rig: CampaignRig,
  token: string,
  url: string,
  csv: string,
  fields?: Record<string, string>,
): Promise<CallResult> {
  const { body, contentType } = multipart(csv, fields);
  return call(rig.context.app, 'POST', url, {
    token,
    rawBody: body,
    headers: { 'content-type': contentType },
  });
}

const contactsUrl = (campaignId: string): string => `/api/v1/campaigns/${campaignId}/contacts`;

/** `count` distinct valid Indian mobile numbers (E.164), consecutive from a random start. */
function numberRange(count: number): string[] {
  const start = 10_000_000 + randomInt(0, 80_000_000);
  return Array.from({ length: count }, (_, index) => `+9198${String(start + index)}`);
}

describe('campaign contacts and the do-not-call list', () => {
  let rig: CampaignRig;

  beforeAll(async () => {
    rig = await startCampaignRig();
  });

  afterAll(async () => {
    await rig.close();
  });

  const uploadContacts = (line: CampaignLine, campaignId: string, csv: string) =>
    upload(rig, line.user.token, contactsUrl(campaignId), csv);

  const campaignOf = async (line: CampaignLine, campaignId: string) => {
    const response = await call(rig.context.app, 'GET', `/api/v1/campaigns/${campaignId}`, {
      token: line.user.token,
    });
    expect(response.status, response.text).toBe(200);
    return response.body as Record<string, any>;
  };

  const dncCount = (line: CampaignLine): Promise<number> =>
    rig.context.db.collection('dncentries').countDocuments({ userId: new ObjectId(line.user.id) });

  describe('CSV import', () => {
    it('normalises numbers, drops duplicates, skips do-not-call numbers and reports invalid rows by line', async () => {
      const line = await rig.newLine();
      const campaign = await rig.createCampaign(line);
      const campaignId = campaign.id as string;
      const listed = await call(rig.context.app, 'POST', '/api/v1/dnc', {
        token: line.user.token,
        body: { phones: ['+919812345699'] },
      });
      expect(listed.status, listed.text).toBe(200);
      expect(listed.body).toMatchObject({ added: 1, invalid: 0 });

      const csv = [
        'phone,customerName,amount', // 1
        '+919812345601,Asha,"₹1,200"', // 2: accepted
        '98765 43210,Ravi,500', // 3: accepted as +919876543210
        '098765-43210,Ravi,500', // 4: the same number
        '919876543210,Ravi,500', // 5: the same number
        '0091 98765 43210,Ravi,500', // 6: the same number
        '12345,Short,1', // 7: not a number
        'abc,Letters,1', // 8: not digits
        '+919812345602,Extra,1,surplus', // 9: 4 fields
        '+919812345603,Missing', // 10: 2 fields
        '98123 45699,Listed,1', // 11: on the do-not-call list
        '', // 12: blank, skipped
        '+14155552671,Intl,7', // 13: accepted (country code given)
        '',
      ].join('\n');
      const imported = await uploadContacts(line, campaignId, csv);
      expect(imported.status, imported.text).toBe(200);
      expect(imported.body).toMatchObject({
        rows: 11,
        accepted: 3,
        duplicate: 3,
        invalid: 4,
        blocked: 1,
      });
      const invalidRows = imported.body.invalidRows as Array<{ row: number; reason: string }>;
      expect(invalidRows.map((row) => row.row)).toEqual([7, 8, 9, 10]);
      const reasons = invalidRows.map((row) => row.reason);
      expect(reasons[0]).toMatch(/"12345" is not a valid number/);
      expect(reasons[1]).toMatch(/"abc" holds characters other than digits/);
      expect(reasons[2]).toMatch(/4 fields, the header 3/);
      expect(reasons[3]).toMatch(/2 fields, the header 3/);

      const stored = await rig.contactsOf(campaignId);
      expect(
        stored.map((contact) => ({
          phone: contact.phone,
          variables: contact.variables,
          row: contact.row,
          state: contact.state,
          attempts: contact.attempts,
        })),
      ).toEqual([
        {
          phone: '+919812345601',
          variables: { customerName: 'Asha', amount: '₹1,200' },
          row: 2,
          state: 'pending',
          attempts: 0,
        },
        {
          phone: '+919876543210',
          variables: { customerName: 'Ravi', amount: '500' },
          row: 3,
          state: 'pending',
          attempts: 0,
        },
        {
          phone: '+14155552671',
          variables: { customerName: 'Intl', amount: '7' },
          row: 13,
          state: 'pending',
          attempts: 0,
        },
      ]);
      for (const contact of stored) {
        expect(contact.userId).toEqual(new ObjectId(line.user.id));
      }
      expect((await campaignOf(line, campaignId)).contactCount).toBe(3);

      // The API lists them the same way, in import order.
      const listedContacts = await call(rig.context.app, 'GET', contactsUrl(campaignId), {
        token: line.user.token,
      });
      expect(listedContacts.status).toBe(200);
      expect(listedContacts.body.meta).toEqual({ page: 1, limit: 20, total: 3 });
      expect(
        listedContacts.body.data.map((contact: { phone: string; row: number }) => [
          contact.phone,
          contact.row,
        ]),
      ).toEqual([
        ['+919812345601', 2],
        ['+919876543210', 3],
        ['+14155552671', 13],
      ]);
    });

    it("checks each row against the agent's placeholders, and a second upload of the same numbers adds nothing", async () => {
      const line = await rig.newLine({
        agentConfig: {
          prompt: 'Remind {{customerName}} about {{amount}} today please.',
          firstMessage: 'Hi {{customerName}}',
        },
      });
      const campaignId = (await rig.createCampaign(line)).id as string;
      const first = await uploadContacts(
        line,
        campaignId,
        [
          'phone,customerName,amount',
          '+919812345611,Asha,100',
          '+919812345612,Ravi,', // no amount
          '+919812345613,,200', // no name
          '+919812345614,Meera,300',
        ].join('\n'),
      );
      expect(first.status, first.text).toBe(200);
      expect(first.body).toMatchObject({
        rows: 4,
        accepted: 2,
        duplicate: 0,
        invalid: 2,
        blocked: 0,
      });
      const [noAmount, noName] = first.body.invalidRows as Array<{ row: number; reason: string }>;
      expect(noAmount?.row).toBe(3);
      expect(noAmount?.reason).toMatch(/\{\{amount\}\}/);
      expect(noAmount?.reason).not.toMatch(/customerName/);
      expect(noName?.row).toBe(4);
      expect(noName?.reason).toMatch(/\{\{customerName\}\}/);
      expect(noName?.reason).not.toMatch(/amount/);

      // No column for a placeholder at all: every row lacks it.
      const noColumn = await uploadContacts(
        line,
        campaignId,
        'phone,customerName\n+919812345615,Kiran\n+919812345616,Devi\n',
      );
      expect(noColumn.status, noColumn.text).toBe(200);
      expect(noColumn.body).toMatchObject({ rows: 2, accepted: 0, invalid: 2 });
      for (const row of noColumn.body.invalidRows as Array<{ reason: string }>) {
        expect(row.reason).toMatch(/no value for \{\{amount\}\}/);
      }
      // The JSON batch is checked the same way.
      const json = await rig.addContacts(line, campaignId, [
        { phone: '+919812345617', variables: { customerName: 'Anil' } },
      ]);
      expect(json.status, json.text).toBe(200);
      expect(json.body).toMatchObject({ accepted: 0, invalid: 1 });
      expect(json.body.invalidRows[0].reason).toMatch(/\{\{amount\}\}/);

      const before = await rig.contactsOf(campaignId);
      expect(before.map((contact) => contact.phone)).toEqual(['+919812345611', '+919812345614']);

      // The same numbers again (written differently, other values): all duplicates.
      const again = await uploadContacts(
        line,
        campaignId,
        'phone,customerName,amount\n98123 45611,Changed,1\n0091 98123 45614,Changed,2\n',
      );
      expect(again.status, again.text).toBe(200);
      expect(again.body).toEqual({
        rows: 2,
        accepted: 0,
        duplicate: 2,
        invalid: 0,
        blocked: 0,
        invalidRows: [],
      });
      expect(await rig.contactsOf(campaignId)).toEqual(before);
      expect((await campaignOf(line, campaignId)).contactCount).toBe(2);
    });

    it('refuses a file with an unusable header whole, and stores nothing', async () => {
      const line = await rig.newLine();
      const campaignId = (await rig.createCampaign(line)).id as string;
      const cases: Array<[string, string, RegExp]> = [
        ['no phone column', 'name,amount\n+919812345621,1\n', /no "phone" column/],
        [
          'a column that cannot name a variable',
          'phone,first name\n+919812345621,Asha\n',
          /"first name"/,
        ],
        ['a column twice', 'phone,amount,amount\n+919812345621,1,2\n', /"amount" appears twice/],
        ['phone twice', 'Phone,phone\n+919812345621,+919812345622\n', /"phone" appears twice/],
        ['an empty file', '', /empty/],
        [
          'more than 51 columns',
          `phone,${Array.from({ length: 51 }, (_, index) => `v${index}`).join(',')}\n`,
          /at most 51 columns/,
        ],
      ];
      for (const [what, csv, message] of cases) {
        const response = await uploadContacts(line, campaignId, csv);
        expect(response.status, what).toBe(400);
        expect(response.body.code, what).toBe('CAMPAIGN_INVALID_CSV');
        expect(response.body.message, what).toMatch(message);
      }

      // A multipart body without a file part.
      const fieldOnly =
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n` +
        `--${BOUNDARY}--\r\n`;
      const noFile = await call(rig.context.app, 'POST', contactsUrl(campaignId), {
        token: line.user.token,
        rawBody: fieldOnly,
        headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      });
      expect(noFile.status, noFile.text).toBe(400);
      expect(noFile.body.code).toBe('CAMPAIGN_INVALID_CSV');

      expect(await rig.contactsOf(campaignId)).toEqual([]);
      expect((await campaignOf(line, campaignId)).contactCount).toBe(0);
    });

    it('refuses a file the parser cannot read on, taking back the rows it had stored', async () => {
      const line = await rig.newLine();
      const campaignId = (await rig.createCampaign(line)).id as string;
      // 1,100 good rows (a first batch of 1,000 is stored), then a quote that never closes.
      const good = numberRange(1100);
      const unclosed = `phone,note\n${good.map((phone) => `${phone},ok`).join('\n')}\n+919812345690,"open\n+919812345691,x\n`;
      const quoted = await uploadContacts(line, campaignId, unclosed);
      expect(quoted.status, quoted.text).toBe(400);
      expect(quoted.body.code).toBe('CAMPAIGN_INVALID_CSV');
      expect(quoted.body.message).toMatch(/quote/i);
      // A record longer than 64 KB.
      const long = `phone,note\n${good.map((phone) => `${phone},ok`).join('\n')}\n+919812345692,${'x'.repeat(70_000)}\n`;
      const tooLong = await uploadContacts(line, campaignId, long);
      expect(tooLong.status, tooLong.text).toBe(400);
      expect(tooLong.body.message).toMatch(/line \d+/);
      expect(await rig.contactsOf(campaignId)).toEqual([]);
      expect((await campaignOf(line, campaignId)).contactCount).toBe(0);
      // The same rows without the broken one go in.
      const fine = await uploadContacts(
        line,
        campaignId,
        `phone,note\n${good.map((phone) => `${phone},ok`).join('\n')}\n`,
      );
      expect(fine.body.accepted).toBe(1100);
    }, 120_000);

    it("refuses uploads to someone else's campaign and to an ended one, and stores nothing", async () => {
      const owner = await rig.newLine();
      const other = await rig.newLine();
      const campaignId = (await rig.createCampaign(owner)).id as string;
      const csv = 'phone\n+919812345631\n';

      const foreign = await uploadContacts(other, campaignId, csv);
      expect(foreign.status).toBe(404);
      expect(foreign.body.code).toBe('CAMPAIGN_NOT_FOUND');
      expect(await rig.contactsOf(campaignId)).toEqual([]);

      expect((await rig.move(owner, campaignId, 'cancel')).status).toBe(200);
      const ended = await uploadContacts(owner, campaignId, csv);
      expect(ended.status).toBe(409);
      expect(ended.body.code).toBe('CAMPAIGN_ENDED');
      expect(await rig.contactsOf(campaignId)).toEqual([]);
    });
  });

  describe('JSON batch', () => {
    it('refuses invalid bodies with a 400 and stores nothing', async () => {
      const line = await rig.newLine();
      const campaignId = (await rig.createCampaign(line)).id as string;
      const many = numberRange(1001).map((phone) => ({ phone }));
      const cases: Array<[string, unknown]> = [
        ['1001 contacts', { contacts: many }],
        ['no contacts', { contacts: [] }],
        ['no contacts property', {}],
        ['an extra property on a contact', { contacts: [{ phone: '+919812345641', vip: true }] }],
        ['an extra property on the body', { contacts: [{ phone: '+919812345641' }], more: 1 }],
        [
          'a variable that is not a string',
          { contacts: [{ phone: '+919812345641', variables: { amount: 5 } }] },
        ],
        [
          'a variable with a bad name',
          { contacts: [{ phone: '+919812345641', variables: { 'first name': 'Asha' } }] },
        ],
        [
          'variables that are not an object',
          { contacts: [{ phone: '+919812345641', variables: ['Asha'] }] },
        ],
        ['a phone that is not a string', { contacts: [{ phone: 919812345641 }] }],
        ['a phone longer than 32 characters', { contacts: [{ phone: '9'.repeat(33) }] }],
      ];
      for (const [what, body] of cases) {
        const response = await call(rig.context.app, 'POST', contactsUrl(campaignId), {
          token: line.user.token,
          body,
        });
        expect(response.status, `${what}: ${response.text}`).toBe(400);
      }
      expect(await rig.contactsOf(campaignId)).toEqual([]);
      expect((await campaignOf(line, campaignId)).contactCount).toBe(0);

      // Exactly 1000 is allowed.
      const thousand = await rig.addContacts(line, campaignId, many.slice(0, 1000));
      expect(thousand.status, thousand.text).toBe(200);
      expect(thousand.body).toMatchObject({ rows: 1000, accepted: 1000 });
    });

    it('reports a valid batch like a CSV, numbering rows by their index + 1', async () => {
      const line = await rig.newLine();
      const campaignId = (await rig.createCampaign(line)).id as string;
      const listed = await call(rig.context.app, 'POST', '/api/v1/dnc', {
        token: line.user.token,
        body: { phones: ['+919812345659'] },
      });
      expect(listed.status).toBe(200);
      const response = await rig.addContacts(line, campaignId, [
        { phone: '+919812345651', variables: { customerName: 'Asha' } }, // 1
        { phone: '98123 45651' }, // 2: the same number
        { phone: '12345' }, // 3: invalid
        { phone: '098123-45659' }, // 4: listed
        { phone: '919812345652', variables: {} }, // 5
        { phone: '+919812345653', variables: { customerName: '' } }, // 6: an empty value is none
      ]);
      expect(response.status, response.text).toBe(200);
      expect(response.body).toEqual({
        rows: 6,
        accepted: 3,
        duplicate: 1,
        invalid: 1,
        blocked: 1,
        invalidRows: [{ row: 3, reason: expect.stringMatching(/"12345" is not a valid number/) }],
      });
      const stored = await rig.contactsOf(campaignId);
      expect(
        stored.map((contact) => [contact.phone, contact.row, contact.variables ?? null]),
      ).toEqual([
        ['+919812345651', 1, { customerName: 'Asha' }],
        ['+919812345652', 5, null],
        ['+919812345653', 6, null],
      ]);
    });
  });

  describe('do-not-call list', () => {
    it("adds numbers (JSON and CSV), blocks the user's waiting contacts with them, lists and removes them", async () => {
      const owner = await rig.newLine();
      const other = await rig.newLine();
      const shared = '+919812345672';
      const kept = '+919812345673';
      const draft = (await rig.createCampaign(owner)).id as string;
      const second = (await rig.createCampaign(owner)).id as string;
      const ended = (await rig.createCampaign(owner)).id as string;
      const theirs = (await rig.createCampaign(other)).id as string;
      for (const [line, campaignId] of [
        [owner, draft],
        [owner, second],
        [owner, ended],
        [other, theirs],
      ] as const) {
        const added = await rig.addContacts(line, campaignId, [{ phone: shared }, { phone: kept }]);
        expect(added.body.accepted).toBe(2);
      }
      expect((await rig.move(owner, ended, 'cancel')).status).toBe(200);

      const added = await call(rig.context.app, 'POST', '/api/v1/dnc', {
        token: owner.user.token,
        body: {
          phones: ['+919812345671', '98123 45672', '12345', '+919812345671', 'abc'],
          reason: 'asked not to be called',
        },
      });
      expect(added.status, added.text).toBe(200);
      expect(added.body).toEqual({
        rows: 5,
        added: 2,
        existing: 1,
        invalid: 2,
        invalidRows: [
          { row: 3, reason: expect.stringMatching(/not a valid number/) },
          { row: 5, reason: expect.stringMatching(/other than digits/) },
        ],
        contactsBlocked: 2,
      });
      const stateOf = async (campaignId: string, phone: string) =>
        (await rig.contactsOf(campaignId)).find((contact) => contact.phone === phone);
      for (const campaignId of [draft, second]) {
        expect(await stateOf(campaignId, shared)).toMatchObject({
          state: 'blocked',
          lastError: 'on the do-not-call list',
        });
        expect((await stateOf(campaignId, kept))?.state).toBe('pending');
      }
      // Not waiting any more: left as it was.
      expect((await stateOf(ended, shared))?.state).toBe('canceled');
      // Another user's contact with the same number is not theirs to block.
      expect((await stateOf(theirs, shared))?.state).toBe('pending');
      const blockedList = await call(
        rig.context.app,
        'GET',
        `${contactsUrl(draft)}?state=blocked`,
        { token: owner.user.token },
      );
      expect(blockedList.body.data.map((contact: { phone: string }) => contact.phone)).toEqual([
        shared,
      ]);

      // Listed already.
      const again = await call(rig.context.app, 'POST', '/api/v1/dnc', {
        token: owner.user.token,
        body: { phones: ['0091 98123 45672'] },
      });
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ rows: 1, added: 0, existing: 1, contactsBlocked: 0 });

      // A CSV upload, with its reason in a field before the file.
      const csv = await upload(
        rig,
        owner.user.token,
        '/api/v1/dnc',
        'Phone,note\n+919812345674,x\n0091 98123 45675,y\nnope,z\n98123 45671,w\n',
        { reason: 'from the CRM' },
      );
      expect(csv.status, csv.text).toBe(200);
      expect(csv.body).toEqual({
        rows: 4,
        added: 2,
        existing: 1,
        invalid: 1,
        invalidRows: [{ row: 4, reason: expect.stringMatching(/"nope"/) }],
        contactsBlocked: 0,
      });
      const noPhone = await upload(rig, owner.user.token, '/api/v1/dnc', 'number\n+919812345676\n');
      expect(noPhone.status).toBe(400);
      expect(noPhone.body.code).toBe('CAMPAIGN_INVALID_CSV');

      // Newest first, with the reason.
      const list = await call(rig.context.app, 'GET', '/api/v1/dnc', { token: owner.user.token });
      expect(list.status).toBe(200);
      expect(list.body.meta).toEqual({ page: 1, limit: 20, total: 4 });
      expect(
        list.body.data.map((entry: { phone: string; reason: string | null }) => [
          entry.phone,
          entry.reason,
        ]),
      ).toEqual([
        ['+919812345675', 'from the CRM'],
        ['+919812345674', 'from the CRM'],
        ['+919812345672', 'asked not to be called'],
        ['+919812345671', 'asked not to be called'],
      ]);
      const secondPage = await call(rig.context.app, 'GET', '/api/v1/dnc?limit=3&page=2', {
        token: owner.user.token,
      });
      expect(secondPage.body.data.map((entry: { phone: string }) => entry.phone)).toEqual([
        '+919812345671',
      ]);
      const theirList = await call(rig.context.app, 'GET', '/api/v1/dnc', {
        token: other.user.token,
      });
      expect(theirList.body.meta.total).toBe(0);

      // Removal: by E.164 (URL-encoded), or as dialled locally.
      const removed = await call(rig.context.app, 'DELETE', '/api/v1/dnc/%2B919812345671', {
        token: owner.user.token,
      });
      expect(removed.status, removed.text).toBe(204);
      const removedAgain = await call(rig.context.app, 'DELETE', '/api/v1/dnc/%2B919812345671', {
        token: owner.user.token,
      });
      expect(removedAgain.status).toBe(404);
      expect(removedAgain.body.code).toBe('DNC_NOT_FOUND');
      const local = await call(rig.context.app, 'DELETE', '/api/v1/dnc/09812345674', {
        token: owner.user.token,
      });
      expect(local.status, local.text).toBe(204);
      const notPhone = await call(rig.context.app, 'DELETE', '/api/v1/dnc/notaphone', {
        token: owner.user.token,
      });
      expect(notPhone.status).toBe(400);
      expect(notPhone.body.code).toBe('DNC_INVALID_PHONE');
      const others = await call(rig.context.app, 'DELETE', '/api/v1/dnc/%2B919812345672', {
        token: other.user.token,
      });
      expect(others.status).toBe(404);
      const remaining = await call(rig.context.app, 'GET', '/api/v1/dnc', {
        token: owner.user.token,
      });
      expect(remaining.body.data.map((entry: { phone: string }) => entry.phone)).toEqual([
        '+919812345675',
        '+919812345672',
      ]);
    });

    it('refuses invalid bodies with a 400 and lists nothing', async () => {
      const line = await rig.newLine();
      const cases: Array<[string, unknown]> = [
        ['an empty array', { phones: [] }],
        ['1001 numbers', { phones: numberRange(1001) }],
        ['no phones', { reason: 'x' }],
        ['phones not an array', { phones: '+919812345681' }],
        ['a number that is not a string', { phones: [919812345681] }],
        ['an empty number', { phones: [''] }],
        ['a number longer than 32 characters', { phones: ['9'.repeat(33)] }],
        ['an empty reason', { phones: ['+919812345681'], reason: '' }],
        ['a reason over 200 characters', { phones: ['+919812345681'], reason: 'x'.repeat(201) }],
        ['an extra property', { phones: ['+919812345681'], vip: true }],
      ];
      for (const [what, body] of cases) {
        const response = await call(rig.context.app, 'POST', '/api/v1/dnc', {
          token: line.user.token,
          body,
        });
        expect(response.status, `${what}: ${response.text}`).toBe(400);
      }
      const malformed = await call(rig.context.app, 'POST', '/api/v1/dnc', {
        token: line.user.token,
        rawBody: '{"phones": [',
        headers: { 'content-type': 'application/json' },
      });
      expect(malformed.status).toBe(400);
      expect(await dncCount(line)).toBe(0);
    });
  });

  describe('a large CSV', () => {
    it('imports 2,500 rows in one streamed request, then pages and filters them', async () => {
      const line = await rig.newLine();
      const campaignId = (await rig.createCampaign(line)).id as string;
      const phones = numberRange(2500);
      const csv = `phone,customerName\n${phones.map((phone, index) => `${phone},Customer ${index}`).join('\n')}\n`;
      const imported = await uploadContacts(line, campaignId, csv);
      expect(imported.status, imported.text).toBe(200);
      expect(imported.body).toEqual({
        rows: 2500,
        accepted: 2500,
        duplicate: 0,
        invalid: 0,
        blocked: 0,
        invalidRows: [],
      });
      expect(
        await rig.context.db
          .collection('campaigncontacts')
          .countDocuments({ campaignId: new ObjectId(campaignId) }),
      ).toBe(2500);
      expect((await campaignOf(line, campaignId)).contactCount).toBe(2500);

      const page = async (query: string) => {
        const response = await call(rig.context.app, 'GET', `${contactsUrl(campaignId)}?${query}`, {
          token: line.user.token,
        });
        expect(response.status, response.text).toBe(200);
        return response.body as {
          data: Array<{ phone: string; row: number; variables: Record<string, string> }>;
          meta: { page: number; limit: number; total: number };
        };
      };
      const second = await page('limit=100&page=2');
      expect(second.meta).toEqual({ page: 2, limit: 100, total: 2500 });
      expect(second.data.map((contact) => contact.phone)).toEqual(phones.slice(100, 200));
      expect(second.data[0]).toMatchObject({
        row: 102,
        variables: { customerName: 'Customer 100' },
      });
      const last = await page('limit=100&page=25');
      expect(last.data.map((contact) => contact.phone)).toEqual(phones.slice(2400));
      expect((await page('limit=100&page=26')).data).toEqual([]);

      // Two of them go on the do-not-call list: the filter tells them apart.
      const blocked = [phones[10], phones[2321]];
      const dnc = await call(rig.context.app, 'POST', '/api/v1/dnc', {
        token: line.user.token,
        body: { phones: blocked },
      });
      expect(dnc.body).toMatchObject({ added: 2, contactsBlocked: 2 });
      expect((await page('state=pending&limit=1')).meta.total).toBe(2498);
      const blockedPage = await page('state=blocked');
      expect(blockedPage.data.map((contact) => contact.phone)).toEqual(blocked);
      expect(blockedPage.meta.total).toBe(2);

      for (const query of ['state=bogus', 'limit=101', 'page=0', 'limit=100&page=102']) {
        const refused = await call(rig.context.app, 'GET', `${contactsUrl(campaignId)}?${query}`, {
          token: line.user.token,
        });
        expect(refused.status, query).toBe(400);
      }
    }, 120_000);
  });
});

describe('campaign contact limits', () => {
  describe('CSV size (CAMPAIGN_CSV_MAX_BYTES=2048)', () => {
    let rig: CampaignRig;

    beforeAll(async () => {
      rig = await startCampaignRig({ CAMPAIGN_CSV_MAX_BYTES: '2048' });
    });

    afterAll(async () => {
      await rig.close();
    });

    it('refuses a larger CSV with a 413 before reading it, and stores nothing', async () => {
      const line = await rig.newLine();
      const campaignId = (await rig.createCampaign(line)).id as string;
      // The body is refused unread when it is announced larger than the limit plus the 64 KB
      // allowed for the multipart framing: ~80 KB here.
      const csv = `phone\n${numberRange(5500).join('\n')}\n`;
      expect(csv.length).toBeGreaterThan(2048 + 64 * 1024);
      const response = await upload(rig, line.user.token, contactsUrl(campaignId), csv);
      expect(response.status, response.text).toBe(413);
      expect(response.body).toMatchObject({ code: 'CAMPAIGN_CSV_TOO_LARGE', maxBytes: 2048 });
      const dnc = await upload(rig, line.user.token, '/api/v1/dnc', csv);
      expect(dnc.status, dnc.text).toBe(413);
      expect(dnc.body.code).toBe('CAMPAIGN_CSV_TOO_LARGE');
      expect(await rig.contactsOf(campaignId)).toEqual([]);
      expect((await rig.campaignDoc(campaignId))?.contactCount).toBe(0);
      expect(
        await rig.context.db
          .collection('dncentries')
          .countDocuments({ userId: new ObjectId(line.user.id) }),
      ).toBe(0);

      // Announced small enough, but the file runs past the limit: refused, nothing stored (not
      // the rows read before the limit).
      const over = `phone\n${numberRange(380).join('\n')}\n`;
      expect(over.length).toBeGreaterThan(2048);
      const cut = await upload(rig, line.user.token, contactsUrl(campaignId), over);
      expect(cut.status, cut.text).toBe(413);
      expect(cut.body.code).toBe('CAMPAIGN_CSV_TOO_LARGE');
      expect(await rig.contactsOf(campaignId)).toEqual([]);
      const cutDnc = await upload(rig, line.user.token, '/api/v1/dnc', over);
      expect(cutDnc.status, cutDnc.text).toBe(413);

      // One under the limit goes in.
      const small = await upload(
        rig,
        line.user.token,
        contactsUrl(campaignId),
        `phone\n${numberRange(3).join('\n')}\n`,
      );
      expect(small.status, small.text).toBe(200);
      expect(small.body.accepted).toBe(3);
    });
  });

  describe('contacts per campaign (CAMPAIGN_MAX_CONTACTS=3)', () => {
    let rig: CampaignRig;

    beforeAll(async () => {
      rig = await startCampaignRig({ CAMPAIGN_MAX_CONTACTS: '3' });
    });

    afterAll(async () => {
      await rig.close();
    });

    it('accepts contacts up to the limit and reports the rest as invalid', async () => {
      const line = await rig.newLine();
      const campaignId = (await rig.createCampaign(line)).id as string;
      const phones = numberRange(5);
      const response = await upload(
        rig,
        line.user.token,
        contactsUrl(campaignId),
        `phone\n${phones.join('\n')}\n`,
      );
      expect(response.status, response.text).toBe(200);
      expect(response.body).toMatchObject({ rows: 5, accepted: 3, duplicate: 0, invalid: 2 });
      expect(response.body.invalidRows).toEqual([
        { row: 5, reason: expect.stringMatching(/at most 3 contacts/) },
        { row: 6, reason: expect.stringMatching(/at most 3 contacts/) },
      ]);
      expect((await rig.contactsOf(campaignId)).map((contact) => contact.phone)).toEqual(
        phones.slice(0, 3),
      );
      const detail = await call(rig.context.app, 'GET', `/api/v1/campaigns/${campaignId}`, {
        token: line.user.token,
      });
      expect(detail.body.contactCount).toBe(3);

      // Full: a JSON batch gets nothing in either.
      const more = await rig.addContacts(line, campaignId, [{ phone: randomIndianNumber() }]);
      expect(more.status).toBe(200);
      expect(more.body).toMatchObject({ accepted: 0, invalid: 1 });
      expect(more.body.invalidRows[0].reason).toMatch(/at most 3 contacts/);
      expect(await rig.contactsOf(campaignId)).toHaveLength(3);
      expect((await rig.campaignDoc(campaignId))?.contactCount).toBe(3);
    });
  });
});

describe('queue-driven dispatch (CAMPAIGN_DISPATCH_INTERVAL_MS=200)', () => {
  let rig: CampaignRig;

  beforeAll(async () => {
    rig = await startCampaignRig({ CAMPAIGN_DISPATCH_INTERVAL_MS: '200' });
  });

  /** Stops the repeating dispatch job (it keeps its queue busy for ever). */
  const stopDispatching = () =>
    rig.context.app
      .get<Queue>(getQueueToken(Queues.campaignDispatch))
      .removeJobScheduler(DISPATCH_SCHEDULER_ID);

  afterAll(async () => {
    await stopDispatching();
    await rig.close();
  });

  it('calls every contact of a started campaign without anyone running the dispatcher', async () => {
    rig.clock.set(undefined);
    const line = await rig.newLine();
    const campaignId = (
      await rig.createCampaign(line, {
        schedule: { windows: [{ from: '00:00', to: '24:00' }] },
      })
    ).id as string;
    const phones = [randomIndianNumber(), randomIndianNumber(), randomIndianNumber()];
    const added = await rig.addContacts(
      line,
      campaignId,
      phones.map((phone) => ({ phone })),
    );
    expect(added.body.accepted).toBe(3);
    const started = await rig.move(line, campaignId, 'start');
    expect(started.status, started.text).toBe(200);

    await waitFor(
      async () => {
        const contacts = await rig.contactsOf(campaignId);
        const calling = contacts.filter((contact) => contact.state === 'calling');
        return calling.length === 3 && phones.every((phone) => rig.connectsTo(phone) === 1)
          ? true
          : undefined;
      },
      20_000,
      'every contact to be called',
    );
    const contacts = await rig.contactsOf(campaignId);
    expect(contacts.map((contact) => contact.attempts)).toEqual([1, 1, 1]);
    expect(
      await rig.context.db
        .collection('calllogs')
        .countDocuments({ campaignId: new ObjectId(campaignId) }),
    ).toBe(3);
    const detail = await call(rig.context.app, 'GET', `/api/v1/campaigns/${campaignId}`, {
      token: line.user.token,
    });
    expect(detail.body.status).toBe('running');
    expect(detail.body.progress.counts).toMatchObject({ calling: 3, pending: 0 });

    const canceled = await rig.move(line, campaignId, 'cancel');
    expect(canceled.body.status).toBe('canceled');
    await stopDispatching();
    await waitForQueuesDrained(rig.context.app, CAMPAIGN_QUEUES);
    // Nobody was called twice.
    for (const phone of phones) {
      expect(rig.connectsTo(phone)).toBe(1);
    }
  });
});
