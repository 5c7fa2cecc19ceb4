import { HttpStatus } from '@nestjs/common';
import { DomainException } from '../common/errors/domain.exception.js';

export enum CampaignsErrorCode {
  NotFound = 'CAMPAIGN_NOT_FOUND',
  AgentNotFound = 'CAMPAIGN_AGENT_NOT_FOUND',
  PhoneNotFound = 'CAMPAIGN_PHONE_NOT_FOUND',
  InvalidSchedule = 'CAMPAIGN_INVALID_SCHEDULE',
  /** The lifecycle does not allow this move from the campaign's status. */
  InvalidTransition = 'CAMPAIGN_INVALID_TRANSITION',
  NoContacts = 'CAMPAIGN_NO_CONTACTS',
  /** Completed or canceled: it takes no more contacts. */
  Ended = 'CAMPAIGN_ENDED',
  TooManyContacts = 'CAMPAIGN_TOO_MANY_CONTACTS',
  InvalidCsv = 'CAMPAIGN_INVALID_CSV',
  CsvTooLarge = 'CAMPAIGN_CSV_TOO_LARGE',
  InvalidBody = 'CAMPAIGN_INVALID_BODY',
  DncNotFound = 'DNC_NOT_FOUND',
  InvalidPhone = 'DNC_INVALID_PHONE',
}

const STATUS: Record<CampaignsErrorCode, HttpStatus> = {
  [CampaignsErrorCode.NotFound]: HttpStatus.NOT_FOUND,
  [CampaignsErrorCode.AgentNotFound]: HttpStatus.NOT_FOUND,
  [CampaignsErrorCode.PhoneNotFound]: HttpStatus.NOT_FOUND,
  [CampaignsErrorCode.InvalidSchedule]: HttpStatus.BAD_REQUEST,
  [CampaignsErrorCode.InvalidTransition]: HttpStatus.CONFLICT,
  [CampaignsErrorCode.NoContacts]: HttpStatus.CONFLICT,
  [CampaignsErrorCode.Ended]: HttpStatus.CONFLICT,
  [CampaignsErrorCode.TooManyContacts]: HttpStatus.CONFLICT,
  [CampaignsErrorCode.InvalidCsv]: HttpStatus.BAD_REQUEST,
  [CampaignsErrorCode.CsvTooLarge]: HttpStatus.PAYLOAD_TOO_LARGE,
  [CampaignsErrorCode.InvalidBody]: HttpStatus.BAD_REQUEST,
  [CampaignsErrorCode.DncNotFound]: HttpStatus.NOT_FOUND,
  [CampaignsErrorCode.InvalidPhone]: HttpStatus.BAD_REQUEST,
};

export class CampaignsException extends DomainException {
  constructor(code: CampaignsErrorCode, message: string, details?: Record<string, unknown>) {
    super(STATUS[code], code, message, details);
  }

  static notFound(): CampaignsException {
    return new CampaignsException(CampaignsErrorCode.NotFound, 'Campaign not found');
  }
}
