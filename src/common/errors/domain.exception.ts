import type { HttpStatus } from '@nestjs/common';

/**
 * Base of every module's typed error: a stable machine-readable `code` (an enum value of
 * the module), the HTTP status it maps to, and a message safe to show to the client.
 */
export class DomainException extends Error {
  constructor(
    readonly status: HttpStatus,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
