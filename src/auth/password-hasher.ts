import { Inject, Injectable } from '@nestjs/common';
import bcrypt from 'bcrypt';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';

@Injectable()
export class PasswordHasher {
  // Compared against when the email is unknown, so both paths cost one bcrypt compare.
  private readonly decoyHash: Promise<string>;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.decoyHash = bcrypt.hash('decoy-password-never-matches', config.bcryptRounds);
  }

  hash(password: string): Promise<string> {
    return bcrypt.hash(password, this.config.bcryptRounds);
  }

  async matches(password: string, hash: string | undefined): Promise<boolean> {
    const matched = await bcrypt.compare(password, hash ?? (await this.decoyHash));
    return hash !== undefined && matched;
  }
}
