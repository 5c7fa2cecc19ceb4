import { SetMetadata } from '@nestjs/common';
import type { UserRole } from '../../users/schemas/user.schema.js';

export const ROLES = 'roles';

/** Only users with one of these roles may call the route (403 otherwise). */
export const Roles = (...roles: UserRole[]): MethodDecorator & ClassDecorator =>
  SetMetadata(ROLES, roles);
