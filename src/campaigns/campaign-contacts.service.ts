import { Inject, Injectable } from '@nestjs/common';
import { Types } from 'mongoose';
import { AgentsRepository } from '../agents/agents.repository.js';
import {
  CALL_VARIABLE_LIMITS,
  placeholdersIn,
  variableNameProblem,
  variablesProblem,
} from '../calls/call-variables.js';
import { type Page, toPage } from '../common/pagination/pagination.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { CampaignClock } from './campaign-clock.js';
import { CampaignContactsRepository, type NewContact } from './campaign-contacts.repository.js';
import { toContactResponse } from './campaign.response.js';
import { CampaignsRepository } from './campaigns.repository.js';
import { CampaignsErrorCode, CampaignsException } from './campaigns.exception.js';
import { CampaignsService } from './campaigns.service.js';
import { normaliseContactPhone } from './contact-phone.js';
import { CsvFormatError, CsvHeaderError, csvRows } from './csv-rows.js';
import { type CsvUpload, isUploadTooLarge, tooLarge } from './csv-upload.js';
import type {
  AddContactsDto,
  ContactImportResponse,
  ContactResponse,
  ListContactsQueryDto,
} from './dto/campaign.dto.js';
import { DncRepository } from './dnc.repository.js';
import type { CampaignContactDocument } from './schemas/campaign-contact.schema.js';
import type { CampaignDocument } from './schemas/campaign.schema.js';

/** Contacts written per database round trip. */
const BATCH_SIZE = 1000;
/** Invalid rows the answer lists (all are counted). */
const MAX_REPORTED_ROWS = 100;
const MAX_CSV_COLUMNS = CALL_VARIABLE_LIMITS.maxKeys + 1;
const MAX_CSV_RECORD_BYTES = 64 * 1024;
const OPEN_STATUSES = ['draft', 'scheduled', 'running', 'paused'];

/** A contact as given, before it is checked. */
interface RawContact {
  row: number;
  phone: string;
  variables: Record<string, string>;
}

/** Counts what an import did with each row. */
class ImportReport {
  rows = 0;
  accepted = 0;
  duplicate = 0;
  invalid = 0;
  blocked = 0;
  readonly invalidRows: Array<{ row: number; reason: string }> = [];

  reject(row: number, reason: string): void {
    this.invalid += 1;
    if (this.invalidRows.length < MAX_REPORTED_ROWS) {
      this.invalidRows.push({ row, reason });
    }
  }

  toResponse(): ContactImportResponse {
    return {
      rows: this.rows,
      accepted: this.accepted,
      duplicate: this.duplicate,
      invalid: this.invalid,
      blocked: this.blocked,
      invalidRows: [...this.invalidRows].sort((a, b) => a.row - b.row),
    };
  }
}

/**
 * A campaign's contacts: imports (a JSON batch, or a CSV upload read as a stream in batches
 * of 1000, so a 100,000-row file never sits in memory), the list and the results export.
 * Each row is checked: its number normalised to E.164, its variables against the agent's
 * placeholders; numbers already in the campaign are dropped, numbers on the user's
 * do-not-call list skipped.
 */
@Injectable()
export class CampaignContactsService {
  constructor(
    private readonly campaignsService: CampaignsService,
    private readonly campaigns: CampaignsRepository,
    private readonly contacts: CampaignContactsRepository,
    private readonly dnc: DncRepository,
    private readonly agents: AgentsRepository,
    private readonly clock: CampaignClock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Largest CSV upload accepted. */
  get csvMaxBytes(): number {
    return this.config.campaigns.csvMaxBytes;
  }

  async addJson(
    userId: string,
    campaignId: string,
    dto: AddContactsDto,
  ): Promise<ContactImportResponse> {
    const campaign = await this.openCampaign(userId, campaignId);
    const rows = dto.contacts.map((contact, index): RawContact => ({
      row: index + 1,
      phone: contact.phone,
      variables: contact.variables ?? {},
    }));
    return this.importRows(campaign, rows, new ImportReport());
  }

  async addCsv(
    userId: string,
    campaignId: string,
    upload: CsvUpload,
  ): Promise<ContactImportResponse> {
    const campaign = await this.openCampaign(userId, campaignId);
    const report = new ImportReport();
    const rows = csvRows(upload.file, {
      required: 'phone',
      columnProblem: variableNameProblem,
      maxColumns: MAX_CSV_COLUMNS,
      maxRecordBytes: MAX_CSV_RECORD_BYTES,
      onBadRow: (row, reason) => {
        report.rows += 1;
        report.reject(row, reason);
      },
    });
    async function* contactsOf(): AsyncGenerator<RawContact> {
      for await (const { row, fields } of rows) {
        const { phone = '', ...variables } = fields;
        yield { row, phone, variables };
      }
    }
    const importId = new Types.ObjectId();
    try {
      const imported = await this.importRows(campaign, contactsOf(), report, importId);
      upload.checkComplete();
      return imported;
    } catch (error) {
      const refusal = csvRefusal(error, this.config.campaigns.csvMaxBytes);
      if (!refusal) {
        throw error;
      }
      // The whole file or nothing: what this upload stored so far is taken back.
      const removed = await this.contacts.removeImport(campaign._id, importId);
      await this.campaigns.releaseContacts(campaign._id, removed);
      throw refusal;
    }
  }

  async list(
    userId: string,
    campaignId: string,
    query: ListContactsQueryDto,
  ): Promise<Page<ContactResponse>> {
    const campaign = await this.campaignsService.owned(userId, campaignId);
    const { contacts, total } = await this.contacts.list(campaign._id, query.state, query);
    return toPage(contacts.map(toContactResponse), total, query);
  }

  /** Every contact with its result, as CSV lines (header first), read from the database in batches. */
  async exportCsv(userId: string, campaignId: string): Promise<AsyncIterable<string>> {
    const campaign = await this.campaignsService.owned(userId, campaignId);
    const contacts = this.contacts.stream(campaign._id);
    async function* lines(): AsyncGenerator<string> {
      yield `${EXPORT_COLUMNS.join(',')}\n`;
      for await (const contact of contacts) {
        yield `${exportRow(contact).map(csvField).join(',')}\n`;
      }
    }
    return lines();
  }

  private async openCampaign(userId: string, campaignId: string): Promise<CampaignDocument> {
    const campaign = await this.campaignsService.owned(userId, campaignId);
    if (!OPEN_STATUSES.includes(campaign.status)) {
      throw new CampaignsException(
        CampaignsErrorCode.Ended,
        `The campaign is ${campaign.status}: it takes no more contacts`,
      );
    }
    return campaign;
  }

  private async importRows(
    campaign: CampaignDocument,
    rows: Iterable<RawContact> | AsyncIterable<RawContact>,
    report: ImportReport,
    importId?: Types.ObjectId,
  ): Promise<ContactImportResponse> {
    const agent = await this.agents.findOwned(
      campaign.userId.toString(),
      campaign.agentId.toString(),
    );
    const placeholders = agent
      ? placeholdersIn(agent.config.prompt, agent.config.firstMessage)
      : [];
    let batch = new Map<string, NewContact>();
    for await (const raw of rows) {
      report.rows += 1;
      const contact = this.checked(raw, placeholders, report);
      if (!contact) {
        continue;
      }
      if (batch.has(contact.phone)) {
        report.duplicate += 1;
        continue;
      }
      batch.set(contact.phone, contact);
      if (batch.size >= BATCH_SIZE) {
        await this.store(campaign, [...batch.values()], report, importId);
        batch = new Map();
      }
    }
    await this.store(campaign, [...batch.values()], report, importId);
    return report.toResponse();
  }

  /** The row as a contact, or undefined (reported) when it is invalid. */
  private checked(
    raw: RawContact,
    placeholders: string[],
    report: ImportReport,
  ): NewContact | undefined {
    const phone = normaliseContactPhone(raw.phone);
    if (!phone.ok) {
      report.reject(raw.row, phone.problem);
      return undefined;
    }
    // An empty cell gives no value: the placeholder would have nothing to say.
    const variables = Object.fromEntries(
      Object.entries(raw.variables).filter(([, value]) => value !== ''),
    );
    const problem = variablesProblem(variables);
    if (problem) {
      report.reject(raw.row, `variables ${problem}`);
      return undefined;
    }
    const missing = placeholders.filter((name) => !Object.hasOwn(variables, name));
    if (missing.length > 0) {
      report.reject(
        raw.row,
        `no value for ${missing.map((name) => `{{${name}}}`).join(', ')} (the agent's prompt uses it)`,
      );
      return undefined;
    }
    return { phone: phone.e164, variables, row: raw.row };
  }

  /** Writes a batch: do-not-call numbers skipped, within the campaign's contact limit. */
  private async store(
    campaign: CampaignDocument,
    batch: NewContact[],
    report: ImportReport,
    importId: Types.ObjectId | undefined,
  ): Promise<void> {
    if (batch.length === 0) {
      return;
    }
    const listed = await this.dnc.listed(
      campaign.userId,
      batch.map((contact) => contact.phone),
    );
    report.blocked += listed.size;
    let allowed = batch.filter((contact) => !listed.has(contact.phone));
    const max = this.config.campaigns.maxContacts;
    while (
      allowed.length > 0 &&
      !(await this.campaigns.reserveContacts(campaign._id, allowed.length, max))
    ) {
      const current = await this.campaigns.findById(campaign._id);
      const room = Math.max(0, max - (current?.contactCount ?? max));
      for (const contact of allowed.slice(room)) {
        report.reject(contact.row ?? 0, `the campaign holds at most ${max} contacts`);
      }
      allowed = allowed.slice(0, room);
    }
    if (allowed.length === 0) {
      return;
    }
    const { inserted, duplicates } = await this.contacts.insertBatch(
      campaign._id,
      campaign.userId,
      allowed,
      this.clock.now(),
      importId,
    );
    await this.campaigns.releaseContacts(campaign._id, allowed.length - inserted);
    report.accepted += inserted;
    report.duplicate += duplicates;
  }
}

/** The answer to an upload refused as a whole, or undefined for any other error. */
export function csvRefusal(error: unknown, maxBytes: number): CampaignsException | undefined {
  if (error instanceof CsvHeaderError || error instanceof CsvFormatError) {
    return new CampaignsException(CampaignsErrorCode.InvalidCsv, `CSV refused: ${error.message}`);
  }
  return isUploadTooLarge(error) ? tooLarge(maxBytes) : undefined;
}

const EXPORT_COLUMNS = [
  'phone',
  'state',
  'attempts',
  'last_status',
  'last_error',
  'cost',
  'call_id',
  'finished_at',
  'row',
  'variables',
];

function exportRow(contact: CampaignContactDocument): string[] {
  return [
    contact.phone,
    contact.state,
    String(contact.attempts),
    contact.lastStatus ?? '',
    contact.lastError ?? '',
    String(Math.round(contact.cost * 10_000) / 10_000),
    contact.callLogId?.toString() ?? '',
    contact.finishedAt?.toISOString() ?? '',
    contact.row === undefined ? '' : String(contact.row),
    contact.variables ? JSON.stringify(contact.variables) : '',
  ];
}

/**
 * A CSV field (RFC 4180 quoting); a value a spreadsheet would run as a formula (=, +, -, @)
 * gets a leading apostrophe.
 */
export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) && !/^[+-]?\d/.test(value) ? `'${value}` : value;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
