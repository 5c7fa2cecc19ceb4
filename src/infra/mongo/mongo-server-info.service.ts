import { Injectable, Logger } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';

/**
 * What the connected MongoDB-wire server can do. FerretDB (development and CI) answers
 * `$group` but sums only constants and lacks date operators, so statistics fold in the
 * application there instead.
 */
@Injectable()
export class MongoServerInfo {
  private readonly logger = new Logger(MongoServerInfo.name);
  private fullAggregation?: Promise<boolean>;

  constructor(@InjectConnection() private readonly connection: Connection) {}

  supportsFullAggregation(): Promise<boolean> {
    this.fullAggregation ??= this.detect();
    return this.fullAggregation;
  }

  private async detect(): Promise<boolean> {
    try {
      const database = this.connection.db;
      if (!database) {
        throw new Error('not connected');
      }
      const info = await database.admin().command({ buildInfo: 1 });
      const ferretdb = 'ferretdbVersion' in info;
      if (ferretdb) {
        this.logger.warn(
          'FerretDB detected: call statistics are folded in the application instead of $group',
        );
      }
      return !ferretdb;
    } catch (error) {
      this.fullAggregation = undefined;
      this.logger.warn(
        `could not read buildInfo (${String(error)}); assuming full aggregation support`,
      );
      return true;
    }
  }
}
