import { Injectable } from '@nestjs/common';

/** The campaigns' notion of now (calling windows, due contacts); tests set their own. */
@Injectable()
export class CampaignClock {
  now(): Date {
    return new Date();
  }
}
