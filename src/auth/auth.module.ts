import { Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { ThrottlerGuard } from '@nestjs/throttler';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { UsersModule } from '../users/users.module.js';
import { AdminRequestAuthenticator } from './admin-request.authenticator.js';
import { AuthService } from './auth.service.js';
import { AccessTokenVerifier } from './access-token.verifier.js';
import { DashboardSessionTokens } from './dashboard-session-tokens.js';
import { JwtAuthGuard } from './jwt-auth.guard.js';
import { FailedAttemptsLimiter } from './failed-attempts.limiter.js';
import { PasswordAttemptsInterceptor } from './password-attempts.interceptor.js';
import { PasswordHasher } from './password-hasher.js';
import { RegisterThrottleGuard } from './register-throttle.guard.js';
import { ThrottledAuthGuard } from './throttled-auth.guard.js';

@Module({
  imports: [
    UsersModule,
    JwtModule.registerAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        secret: config.jwt.secret,
        signOptions: { algorithm: 'HS256', expiresIn: config.jwt.expiresInSeconds },
      }),
    }),
  ],
  providers: [
    AuthService,
    PasswordHasher,
    AccessTokenVerifier,
    JwtAuthGuard,
    ThrottlerGuard,
    ThrottledAuthGuard,
    RegisterThrottleGuard,
    FailedAttemptsLimiter,
    PasswordAttemptsInterceptor,
    AdminRequestAuthenticator,
    DashboardSessionTokens,
  ],
  exports: [
    AuthService,
    PasswordHasher,
    AccessTokenVerifier,
    AdminRequestAuthenticator,
    FailedAttemptsLimiter,
    PasswordAttemptsInterceptor,
    DashboardSessionTokens,
    ThrottledAuthGuard,
    RegisterThrottleGuard,
  ],
})
export class AuthModule {}
