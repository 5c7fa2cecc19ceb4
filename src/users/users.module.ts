import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { AccessTokenStore } from './access-token.store.js';
import { AdminUsersService } from './admin-users.service.js';
import { User, UserSchema } from './schemas/user.schema.js';
import { UserProfileCache } from './user-profile.cache.js';
import { UsersRepository } from './users.repository.js';
import { UsersService } from './users.service.js';

@Module({
  imports: [MongooseModule.forFeature([{ name: User.name, schema: UserSchema }])],
  providers: [UsersRepository, UsersService, AdminUsersService, AccessTokenStore, UserProfileCache],
  exports: [UsersRepository, UsersService, AdminUsersService, AccessTokenStore, UserProfileCache],
})
export class UsersModule {}
