import { Inject, Injectable } from '@nestjs/common';
import { Types } from 'mongoose';
import { type Page, type PaginationQueryDto, toPage } from '../common/pagination/pagination.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { CampaignClock } from './campaign-clock.js';
import { csvRefusal } from './campaign-contacts.service.js';
import { CampaignContactsRepository } from './campaign-contacts.repository.js';
import { CampaignsErrorCode, CampaignsException } from './campaigns.exception.js';
import { normaliseContactPhone } from './contact-phone.js';
import { csvRows } from './csv-rows.js';
import type { CsvUpload } from './csv-upload.js';
import { DncRepository } from './dnc.repository.js';
import type { AddDncDto, DncEntryResponse, DncImportResponse } from './dto/dnc.dto.js';

const BATCH_SIZE = 1000;
const MAX_REPORTED_ROWS = 100;

/**
 * The user's do-not-call list. A number added is never called by a campaign after that: its
 * waiting contacts are blocked at once, and the dispatcher checks the list again when it claims
 * a contact (so a contact claimed meanwhile is not called either).
 */
@Injectable()
export class DncService {
  constructor(
    private readonly dnc: DncRepository,
    private readonly contacts: CampaignContactsRepository,
    private readonly clock: CampaignClock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Largest CSV upload accepted. */
  get csvMaxBytes(): number {
    return this.config.campaigns.csvMaxBytes;
  }

  async add(userId: string, dto: AddDncDto): Promise<DncImportResponse> {
    const report = emptyReport();
    const rows = dto.phones.map((phone, index) => ({ row: index + 1, phone }));
    return this.addRows(userId, rows, dto.reason, report);
  }

  async addCsv(userId: string, upload: CsvUpload, reason?: string): Promise<DncImportResponse> {
    const report = emptyReport();
    const rows = csvRows(upload.file, {
      required: 'phone',
      maxColumns: 20,
      maxRecordBytes: 4096,
      onBadRow: (row, problem) => {
        report.rows += 1;
        reject(report, row, problem);
      },
    });
    async function* phonesOf(): AsyncGenerator<{ row: number; phone: string }> {
      for await (const { row, fields } of rows) {
        yield { row, phone: fields.phone ?? '' };
      }
    }
    try {
      const added = await this.addRows(userId, phonesOf(), reason, report);
      upload.checkComplete();
      return added;
    } catch (error) {
      // Numbers listed before the problem stay listed (a number too many is never harmful).
      throw csvRefusal(error, this.config.campaigns.csvMaxBytes) ?? error;
    }
  }

  async list(userId: string, query: PaginationQueryDto): Promise<Page<DncEntryResponse>> {
    const { entries, total } = await this.dnc.list(new Types.ObjectId(userId), query);
    return toPage(
      entries.map((entry) => ({
        phone: entry.phone,
        reason: entry.reason ?? null,
        createdAt: entry.createdAt,
      })),
      total,
      query,
    );
  }

  async remove(userId: string, rawPhone: string): Promise<void> {
    const phone = normaliseContactPhone(rawPhone);
    if (!phone.ok) {
      throw new CampaignsException(CampaignsErrorCode.InvalidPhone, phone.problem);
    }
    if (!(await this.dnc.remove(new Types.ObjectId(userId), phone.e164))) {
      throw new CampaignsException(
        CampaignsErrorCode.DncNotFound,
        `${phone.e164} is not on your do-not-call list`,
      );
    }
  }

  private async addRows(
    userId: string,
    rows: Iterable<{ row: number; phone: string }> | AsyncIterable<{ row: number; phone: string }>,
    reason: string | undefined,
    report: DncImportResponse,
  ): Promise<DncImportResponse> {
    const owner = new Types.ObjectId(userId);
    let batch = new Set<string>();
    const flush = async (): Promise<void> => {
      if (batch.size === 0) {
        return;
      }
      const now = this.clock.now();
      const { added, existing } = await this.dnc.addMany(owner, [...batch], reason, now);
      report.added += added.length;
      report.existing += existing;
      report.contactsBlocked += await this.contacts.blockNumbers(owner, added, now);
      batch = new Set();
    };
    for await (const { row, phone: raw } of rows) {
      report.rows += 1;
      const phone = normaliseContactPhone(raw);
      if (!phone.ok) {
        reject(report, row, phone.problem);
        continue;
      }
      if (batch.has(phone.e164)) {
        report.existing += 1;
        continue;
      }
      batch.add(phone.e164);
      if (batch.size >= BATCH_SIZE) {
        await flush();
      }
    }
    await flush();
    report.invalidRows.sort((a, b) => a.row - b.row);
    return report;
  }
}

function emptyReport(): DncImportResponse {
  return { rows: 0, added: 0, existing: 0, invalid: 0, invalidRows: [], contactsBlocked: 0 };
}

function reject(report: DncImportResponse, row: number, reason: string): void {
  report.invalid += 1;
  if (report.invalidRows.length < MAX_REPORTED_ROWS) {
    report.invalidRows.push({ row, reason });
  }
}
