import { type DynamicModule, Global, Logger, Module } from '@nestjs/common';
import { type AppConfig, loadConfig } from './app-config.js';

export const APP_CONFIG = Symbol('APP_CONFIG');

/** Reads and validates the environment, logging what it had to make up (development only). */
export function configFromEnvironment(): AppConfig {
  const loaded = loadConfig();
  const logger = new Logger('Config');
  loaded.warnings.forEach((warning) => logger.warn(warning));
  return loaded.config;
}

@Global()
@Module({})
export class ConfigModule {
  /** Provides the configuration the application was built with. */
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }
}
