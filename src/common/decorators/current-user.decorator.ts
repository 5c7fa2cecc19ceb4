import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { UserRole } from '../../users/schemas/user.schema.js';

/** What a verified bearer token tells about the caller. */
export interface AuthenticatedUser {
  userId: string;
  role: UserRole;
}

export const CurrentUser = createParamDecorator(
  (_data: unknown, context: ExecutionContext): AuthenticatedUser =>
    context.switchToHttp().getRequest<{ user: AuthenticatedUser }>().user,
);
